import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { HttpClient, login } from 'test-kit';
import { type Rig, startRig } from './setup.js';

const refreshCount = (rig: Rig) =>
  rig.emulator.requests.filter((r) => r.grantType === 'refresh_token').length;

/** The session's access token and when it expires (ms since the epoch). */
async function accessToken(client: HttpClient, rig: Rig): Promise<{ token: string; exp: number }> {
  const token = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body).token as string;
  return { token, exp: (decodeJwt(token).exp as number) * 1000 };
}

/**
 * Moves the app's and the emulator's time to `at` (ms since the epoch). The tests aim at points
 * relative to the token's own expiry, not a fixed time after login, so a slow login cannot move them.
 */
const until = (rig: Rig, at: number) => rig.advance(Math.max(0, at - rig.clock.now()));

describe('token refresh', () => {
  const rigs: Rig[] = [];
  after(() => Promise.all(rigs.map((r) => r.close())));

  test('an expiring access token is refreshed once for many concurrent requests', async () => {
    // Tokens live 10 s; the plugin refreshes within 5 s of expiry, so 4 s before it the next request
    // refreshes and the new token is good for a while.
    const rig = await startRig({ emulator: { accessTokenTtl: 10 } });
    rigs.push(rig);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    const { token: tokenBefore, exp } = await accessToken(client, rig);
    const before = refreshCount(rig);
    until(rig, exp - 4_000);
    const answers = await Promise.all(Array.from({ length: 20 }, () => client.request(`${rig.appUrl}/`)));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    assert.equal(refreshCount(rig), before + 1, 'twenty concurrent requests share one refresh');
    const tokenAfter = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body).token;
    assert.notEqual(tokenAfter, tokenBefore);
    assert.equal(refreshCount(rig), before + 1, 'the fresh token is used without another refresh');
  });

  test('a refresh the provider refuses ends the session with 401', async () => {
    const rig = await startRig({ emulator: { accessTokenTtl: 2, refreshTokenTtl: 1 } });
    rigs.push(rig);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    const stolen = client.cookies(rig.appUrl).get('kinde_session')!;
    // Past the access token's expiry, with the refresh token expired too.
    rig.advance(2_500);
    const answer = await client.request(`${rig.appUrl}/`);
    assert.equal(answer.status, 401);
    assert.equal(answer.body, '{"detail":"Not authenticated"}');
    const again = await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${stolen}` } });
    assert.equal(again.status, 401, 'the session was deleted, not just skipped');
  });
});

describe('token refresh against a provider that returns the unexpired access token (as Kinde does)', () => {
  test('the last seconds of a token cost one refresh, not one per request', async () => {
    const rig = await startRig({ emulator: { accessTokenTtl: 10, reuseAccessTokenOnRefresh: true } });
    try {
      const client = new HttpClient();
      await login(client, rig.appUrl, 'admin@example.test');
      const { exp } = await accessToken(client, rig);
      const before = refreshCount(rig);
      // Inside the last 5 s (the refresh skew), with time to spare before the token expires.
      until(rig, exp - 4_500);
      for (let i = 0; i < 10; i++) assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
      assert.equal(refreshCount(rig), before + 1, 'ten requests near expiry: one refresh');
      const { token } = await accessToken(client, rig);
      until(rig, exp + 200);
      assert.equal(
        (await client.request(`${rig.appUrl}/`)).status,
        200,
        'after expiry the session refreshes again',
      );
      const fresh = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body).token;
      assert.notEqual(fresh, token);
      assert.ok(refreshCount(rig) <= before + 3);
    } finally {
      await rig.close();
    }
  });
});
