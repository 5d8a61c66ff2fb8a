import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { HttpClient, login } from 'test-kit';
import { type Rig, startRig } from './setup.js';

/** Requests to `path` at the emulator since `since` (ms). */
const hits = (rig: Rig, path: RegExp, since: number) =>
  rig.emulator.requests.filter((r) => path.test(r.path) && r.time >= since).length;

describe('the signing keys cannot be fetched before any key set has loaded', () => {
  const rigs: Rig[] = [];
  after(() => Promise.all(rigs.map((r) => r.close())));

  test('a bearer request answers 503 (not 401), fetches the keys once per cooldown, and recovers', async (t) => {
    const rig = await startRig({ kinde: { bearer: { cooldown: 4 } } });
    rigs.push(rig);
    const { access_token: token } = await rig.emulator.control.issueTokens({ user: 'admin@example.test' });
    rig.emulator.control.failEndpoint('jwks', { mode: 'down' });
    const started = Date.now();
    const answers = [];
    for (let round = 0; round < 5; round++) {
      const batch = Array.from({ length: 10 }, () =>
        fetch(`${rig.appUrl}/`, { headers: { authorization: `Bearer ${token}` } }),
      );
      answers.push(...(await Promise.all(batch)));
    }
    const elapsed = Date.now() - started;
    for (const answer of answers) {
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('www-authenticate'), null, 'no invalid_token: the token may be good');
      assert.match(((await answer.json()) as { detail: string }).detail, /signing keys could not be fetched/);
    }
    // Backoff after failures: 1 s, 2 s, then the 4 s cooldown: one fetch per window at most.
    const fetches = hits(rig, /^\/\.well-known\/jwks/, started);
    t.diagnostic(
      `${answers.length} bearer requests in ${elapsed} ms during the outage: ${fetches} JWKS fetches`,
    );
    assert.ok(
      fetches >= 1 && fetches <= 1 + Math.ceil(elapsed / 1_000),
      `${fetches} fetches in ${elapsed} ms`,
    );
    assert.ok(fetches < answers.length / 10, `${fetches} fetches for ${answers.length} requests`);

    rig.emulator.control.clearFailures();
    // The backoff (at most the 4 s cooldown) passes on the app's clock, not the wall clock.
    let status = 503;
    for (let i = 0; status === 503 && i < 100; i++) {
      rig.advance(100);
      status = (await fetch(`${rig.appUrl}/`, { headers: { authorization: `Bearer ${token}` } })).status;
    }
    assert.equal(status, 200, 'the keys load once the provider is back');
  });
});

describe('the token endpoint is down while sessions need a refresh', () => {
  const rigs: Rig[] = [];
  after(() => Promise.all(rigs.map((r) => r.close())));

  test('one session hammering during an outage backs off on its own: 1 s, then 2 s, ...', async (t) => {
    const rig = await startRig({ emulator: { accessTokenTtl: 1 } });
    rigs.push(rig);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    rig.emulator.control.failTokenEndpoint({ mode: 'down' });
    rig.advance(1_100);
    const outage = Date.now();
    const outageAt = rig.clock.now();
    for (let i = 0; i < 40; i++) {
      const answer = await client.request(`${rig.appUrl}/`);
      assert.equal(answer.status, 503, answer.body);
      rig.advance(75);
    }
    const tries = hits(rig, /^\/oauth2\/token$/, outage);
    const outageMs = rig.clock.now() - outageAt;
    t.diagnostic(`40 requests of one session in ${outageMs} ms of outage: ${tries} token requests`);
    // Waits of 1 s, 2 s, 4 s (±20%) between tries: log2 of the outage's seconds, plus one.
    assert.ok(tries >= 1 && tries <= Math.ceil(Math.log2(outageMs / 800 + 1)) + 1, `${tries} tries`);
    rig.emulator.control.clearFailures();
  });

  test('40 sessions hammering during an outage: every answer is 503, the provider gets a bounded number of tries, all recover', async (t) => {
    const rig = await startRig({ emulator: { accessTokenTtl: 2 } });
    rigs.push(rig);
    const sessions = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const client = new HttpClient();
        await login(client, rig.appUrl, i % 2 === 0 ? 'admin@example.test' : 'user@example.test');
        return client;
      }),
    );
    rig.emulator.control.failTokenEndpoint({ mode: 'down' });
    // Every access token is past its expiry: no session has a token it could still serve.
    rig.advance(2_600);
    const outage = Date.now();
    const outageAt = rig.clock.now();
    const statuses = new Map<number, number>();
    let requests = 0;
    for (let round = 0; round < 12; round++) {
      const answers = await Promise.all(sessions.map((client) => client.request(`${rig.appUrl}/`)));
      for (const answer of answers) {
        requests += 1;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 503) assert.match(JSON.parse(answer.body).detail, /identity provider/);
      }
      rig.advance(200);
    }
    const tries = hits(rig, /^\/oauth2\/token$/, outage);
    const outageMs = rig.clock.now() - outageAt;
    t.diagnostic(`${requests} requests of 40 sessions in ${outageMs} ms of outage: ${tries} token requests`);
    assert.deepEqual([...statuses], [[503, requests]], 'an outage, not a logout');
    // The bound: one try per session before the breaker opens (40), then one probe per open window
    // (1 s, 2 s, 4 s, ... with ±20% jitter): at most log2 of the outage's seconds, plus one.
    const probes = Math.ceil(Math.log2(outageMs / 800 + 1)) + 1;
    assert.ok(
      tries <= sessions.length + probes,
      `${tries} token requests for ${requests} requests in ${outageMs} ms`,
    );

    rig.emulator.control.clearFailures();
    const recovered = Date.now();
    const pending = new Set(sessions);
    // The breaker's and the sessions' backoff (at most 30 s) pass on the app's clock.
    for (let i = 0; pending.size > 0 && i < 200; i++) {
      rig.advance(250);
      for (const client of [...pending]) {
        if ((await client.request(`${rig.appUrl}/`)).status === 200) pending.delete(client);
      }
    }
    assert.equal(pending.size, 0, 'every session is served again after the outage');
    const after = hits(rig, /^\/oauth2\/token$/, recovered);
    t.diagnostic(`recovered in ${Date.now() - recovered} ms with ${after} token requests`);
    assert.ok(after <= sessions.length + 2, `${after} token requests to recover ${sessions.length} sessions`);
  });
});
