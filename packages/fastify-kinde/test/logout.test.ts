import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpClient } from 'test-kit';
import { type Rig, startRig } from './setup.js';

const ADMIN = 'admin@example.test';

describe('logout only from this site', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({ emulator: { headlessLogin: true } });
  });
  after(() => rig.close());

  async function signedIn(): Promise<HttpClient> {
    const client = new HttpClient();
    // The headless emulator signs the hinted user in at once: login, provider, callback, then /.
    const hops = await client.follow(`${rig.appUrl}/api/auth/login?login_hint=${ADMIN}`);
    assert.equal(hops.at(-1)?.status, 200, hops.at(-1)?.body);
    return client;
  }

  const logoutUrl = () => `${rig.appUrl}/api/auth/logout`;
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  test('POST from this site (Origin, or Sec-Fetch-Site without Origin) ends the session: 303 to Kinde', async () => {
    for (const headers of [
      { origin: rig.appUrl, ...form },
      { origin: rig.appUrl, 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'same-origin', ...form },
    ] as Record<string, string>[]) {
      const client = await signedIn();
      const stolen = client.cookies(rig.appUrl).get('kinde_session')!;
      const answer = await client.request(logoutUrl(), { method: 'POST', headers, body: '' });
      assert.equal(answer.status, 303, JSON.stringify(headers));
      assert.match(answer.location ?? '', new RegExp(`^${rig.emulator.issuerUrl}/logout\\?redirect=`));
      assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
      const replay = await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${stolen}` } });
      assert.equal(replay.status, 401, 'the session is gone from the store');
    }
  });

  test('POST from another site, or from nowhere said, is 403 and leaves the session alone', async () => {
    const client = await signedIn();
    for (const headers of [
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', ...form },
      { origin: 'https://evil.example', ...form },
      { origin: 'null', ...form },
      { origin: rig.appUrl.replace('127.0.0.1', 'localhost'), 'sec-fetch-site': 'cross-site' },
      { origin: `${rig.appUrl}.evil.example` },
      { 'sec-fetch-site': 'same-site', ...form },
      { 'sec-fetch-site': 'cross-site', 'content-type': 'multipart/form-data; boundary=x' },
      {},
    ] as Record<string, string>[]) {
      const answer = await client.request(logoutUrl(), {
        method: 'POST',
        headers: { ...headers, accept: 'application/json' },
        body: headers['content-type']?.startsWith('multipart') ? '--x--\r\n' : 'a=1',
      });
      assert.equal(answer.status, 403, JSON.stringify(headers));
      const body = JSON.parse(answer.body);
      assert.equal(body.code, 'ERR_CROSS_SITE');
      assert.match(
        body.detail,
        new RegExp(`must be sent from this site \\(${rig.appUrl.replaceAll('.', '\\.')}\\)`),
      );
      assert.equal(answer.headers.getSetCookie().length, 0, 'no cookie is cleared');
      assert.equal((await client.request(`${rig.appUrl}/`)).status, 200, 'still signed in');
    }
  });

  test('a cross-site GET asks to confirm and ends nothing; the page posts from this site', async () => {
    const client = await signedIn();
    for (const headers of [
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
      { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' },
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' },
      { referer: 'https://evil.example/page' },
      { origin: 'https://evil.example' },
    ] as Record<string, string>[]) {
      const answer = await client.request(logoutUrl(), { headers });
      assert.equal(answer.status, 200, JSON.stringify(headers));
      assert.equal(answer.headers.getSetCookie().length, 0);
      assert.equal(answer.headers.get('x-frame-options'), 'DENY');
      assert.match(answer.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      assert.match(answer.body, /<form method="post" action="\/api\/auth\/logout">/);
      assert.equal((await client.request(`${rig.appUrl}/`)).status, 200, 'still signed in');
    }
    // The page's button: a same-origin form post.
    const confirmed = await client.request(logoutUrl(), {
      method: 'POST',
      headers: { origin: rig.appUrl, 'sec-fetch-site': 'same-origin', ...form },
      body: '',
    });
    assert.equal(confirmed.status, 303);
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
  });

  test('GET from this site, typed, or from a client without fetch metadata still signs out (Kinde SDK links)', async () => {
    for (const headers of [
      { 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
      { referer: `${rig.appUrl}/somewhere` },
      {},
    ] as Record<string, string>[]) {
      const client = await signedIn();
      const answer = await client.request(logoutUrl(), { headers });
      assert.equal(answer.status, 302, JSON.stringify(headers));
      assert.equal((await client.request(`${rig.appUrl}/`)).status, 401, JSON.stringify(headers));
    }
  });
});
