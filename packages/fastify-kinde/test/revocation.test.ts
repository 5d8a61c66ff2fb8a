import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultDirectory } from 'kinde-emulator';
import { HttpClient } from 'test-kit';
import type { AuthEvent } from '../src/index.js';
import type { SessionRecord } from '../src/session/record.js';
import { type Rig, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const application = defaultDirectory().applications[0]!;

describe('logout revokes the session tokens at the provider (RFC 7009)', () => {
  let rig: Rig;
  const events: AuthEvent[] = [];
  before(async () => {
    rig = await startRig({
      emulator: { headlessLogin: true },
      kinde: { onAuthEvent: (event) => events.push(event), auditLogLevel: false },
    });
  });
  after(() => rig.close());

  async function signedIn(): Promise<{ client: HttpClient; record: SessionRecord; cookie: string }> {
    const client = new HttpClient();
    const hops = await client.follow(`${rig.appUrl}/api/auth/login?login_hint=${ADMIN}`);
    assert.equal(hops.at(-1)?.status, 200, hops.at(-1)?.body);
    const cookie = client.cookies(rig.appUrl).get('kinde_session')!;
    const id = cookie.slice(0, cookie.lastIndexOf('.'));
    const entry = await rig.app.kinde.store.get(`sess:${id}`);
    const record = entry?.value as SessionRecord;
    assert.ok(record.refreshToken, 'the session holds a refresh token');
    return { client, record, cookie };
  }

  /** The provider's token endpoint, asked to refresh with `refreshToken` (as any client of this app could). */
  function refreshAt(refreshToken: string) {
    return fetch(`${rig.emulator.issuerUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: application.clientId,
        client_secret: application.clientSecret!,
      }),
    });
  }

  async function introspect(token: string): Promise<{ active: boolean }> {
    const response = await fetch(`${rig.emulator.issuerUrl}/oauth2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token,
        client_id: application.clientId,
        client_secret: application.clientSecret!,
      }),
    });
    return (await response.json()) as { active: boolean };
  }

  const logout = (client: HttpClient) =>
    client.request(`${rig.appUrl}/api/auth/logout`, { headers: { 'sec-fetch-site': 'same-origin' } });

  test('after logout the old refresh token no longer refreshes (invalid_grant); another session keeps its own', {
    timeout: 20_000,
  }, async () => {
    const kept = await signedIn();
    const { client, record } = await signedIn();
    const out = await logout(client);
    assert.equal(out.status, 302);
    const refused = await refreshAt(record.refreshToken!);
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await introspect(record.accessToken)).active, false, 'the access token is revoked too');
    // Only the signed-out session's family ended: the other one is untouched.
    assert.equal((await introspect(kept.record.refreshToken!)).active, true);
    assert.equal((await kept.client.request(`${rig.appUrl}/`)).status, 200);
    assert.equal(events.filter((e) => e.type === 'logout').at(-1)?.revocation, 'revoked');
    await logout(kept.client);
  });

  test('logout revokes both tokens at the revocation endpoint, authenticated as the client (200 each)', {
    timeout: 20_000,
  }, async () => {
    const { client } = await signedIn();
    const before = rig.emulator.requests.length;
    await logout(client);
    const calls = rig.emulator.requests.slice(before).filter((r) => r.path === '/oauth2/revoke');
    assert.equal(calls.length, 2, 'the refresh token and the access token');
    for (const call of calls) assert.equal(call.status, 200);
  });

  test('the provider answering 503 on revoke: still signed out here, the session is gone', {
    timeout: 20_000,
  }, async () => {
    const { client, cookie } = await signedIn();
    rig.emulator.control.failEndpoint('revoke', { mode: 'down' });
    try {
      const out = await logout(client);
      assert.equal(out.status, 302);
      assert.match(out.location ?? '', /\/logout\?redirect=/);
      const replay = await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${cookie}` } });
      assert.equal(replay.status, 401, 'the session was deleted although the provider failed');
      assert.equal(events.filter((e) => e.type === 'logout').at(-1)?.revocation, 'failed');
    } finally {
      rig.emulator.control.clearFailures();
    }
  });

  test('the provider down while the access token is due for refresh: logout still ends the session', {
    timeout: 20_000,
  }, async () => {
    const { client, cookie } = await signedIn();
    const key = `sess:${cookie.slice(0, cookie.lastIndexOf('.'))}`;
    const entry = await rig.app.kinde.store.get(key);
    const expired = { ...(entry!.value as SessionRecord), accessExpiresAt: Date.now() - 1_000 };
    await rig.app.kinde.store.set(key, expired, 60_000);
    rig.emulator.control.failEndpoint('token', { mode: 'down' });
    rig.emulator.control.failEndpoint('revoke', { mode: 'down' });
    try {
      // The refresh cannot happen: guarded routes answer 503 (the session is kept, not ended)...
      assert.equal((await client.request(`${rig.appUrl}/`)).status, 503);
      // ...but signing out needs only the store: 302 on to the provider, the cookie cleared.
      const out = await logout(client);
      assert.equal(out.status, 302, out.body);
      assert.match(out.location ?? '', /\/logout\?redirect=/);
      assert.equal(await rig.app.kinde.store.get(key), undefined, 'the session is gone from the store');
    } finally {
      rig.emulator.control.clearFailures();
    }
    const replay = await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${cookie}` } });
    assert.equal(replay.status, 401);
  });

  test('a provider that hangs on revoke: logout answers anyway after the short timeout', {
    timeout: 20_000,
  }, async () => {
    const { client, cookie } = await signedIn();
    rig.emulator.control.failEndpoint('revoke', { mode: 'slow', delayMs: 8_000 });
    try {
      const out = await logout(client);
      assert.equal(out.status, 302);
      const replay = await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${cookie}` } });
      assert.equal(replay.status, 401);
      assert.equal(events.filter((e) => e.type === 'logout').at(-1)?.revocation, 'timeout');
    } finally {
      rig.emulator.control.clearFailures();
    }
  });

  test('revokeUser (and so signOutEverywhere and webhooks) ends the families at the provider too', {
    timeout: 20_000,
  }, async () => {
    const first = await signedIn();
    const second = await signedIn();
    const sub = first.record.accessClaims.sub as string;
    assert.ok((await rig.app.kinde.revokeUser(sub)) >= 2);
    // The provider is told in the background: wait (bounded) until both families are inactive.
    const deadline = Date.now() + 5_000;
    for (;;) {
      const states = await Promise.all([first, second].map((s) => introspect(s.record.refreshToken!)));
      if (states.every((s) => !s.active)) break;
      assert.ok(Date.now() < deadline, 'the refresh tokens were not revoked at the provider');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const refused = await refreshAt(second.record.refreshToken!);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_grant');
  });
});
