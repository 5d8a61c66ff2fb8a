import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HttpClient } from 'test-kit';
import { KindeAuthError, PORTAL_PAGES } from '../src/index.js';
import { fetchPortalLink } from '../src/portal.js';
import { type Rig, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const JSON_ONLY = { accept: 'application/json' };

describe('GET /api/auth/portal: Kinde self-serve portal', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({
      emulator: { headlessLogin: true },
      kinde: { routes: { portal: '/account/portal' } },
    });
  });
  after(() => rig.close());

  const portal = (query = '') => `${rig.appUrl}/account/portal${query}`;

  async function signedIn(): Promise<HttpClient> {
    const client = new HttpClient();
    const hops = await client.follow(`${rig.appUrl}/api/auth/login?login_hint=${ADMIN}`);
    assert.equal(hops.at(-1)?.status, 200, hops.at(-1)?.body);
    return client;
  }

  test('a signed-in user goes to the portal link; the portal shows the section and links back', {
    timeout: 20_000,
  }, async () => {
    const client = await signedIn();
    const before = rig.emulator.requests.length;
    const answer = await client.request(
      portal('?subNav=organization_members&returnUrl=%2Fsettings%3Ftab%3D1'),
    );
    assert.equal(answer.status, 302, answer.body);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const location = new URL(answer.location!);
    assert.equal(location.origin, rig.emulator.issuerUrl);
    assert.equal(location.pathname, '/portal');
    // What was sent: js-utils' names (subnav, return_url), the return URL made absolute on this site.
    const call = rig.emulator.requests.slice(before).find((r) => r.path === '/account_api/v1/portal_link');
    assert.deepEqual(call?.query, {
      subnav: 'organization_members',
      return_url: `${rig.appUrl}/settings?tab=1`,
    });
    const page = await client.request(location.href);
    assert.equal(page.status, 200);
    assert.match(page.body, /data-subnav="organization_members"/);
    assert.ok(page.body.includes(`href="${rig.appUrl}/settings?tab=1"`), page.body);
  });

  test('without parameters: the profile section, and back to the site URL (Kinde defaults)', {
    timeout: 20_000,
  }, async () => {
    const client = await signedIn();
    const hops = await client.follow(portal());
    assert.equal(hops.at(-1)?.status, 200);
    assert.match(hops.at(-1)!.body, /data-subnav="profile"/);
    assert.ok(hops.at(-1)!.body.includes(`href="${rig.appUrl}/"`));
  });

  test("every one of Kinde's sections is accepted", { timeout: 20_000 }, async () => {
    const client = await signedIn();
    for (const subNav of PORTAL_PAGES) {
      const answer = await client.request(portal(`?subNav=${subNav}`));
      assert.equal(answer.status, 302, subNav);
    }
  });

  test("an unknown subNav is 400 and lists Kinde's sections; nothing is asked of the provider", {
    timeout: 20_000,
  }, async () => {
    const client = await signedIn();
    const before = rig.emulator.requests.length;
    for (const subNav of ['billing', 'PROFILE', '%00', 'profile%20']) {
      const answer = await client.request(portal(`?subNav=${subNav}`), { headers: JSON_ONLY });
      assert.equal(answer.status, 400, subNav);
      const body = JSON.parse(answer.body);
      assert.equal(body.code, 'ERR_BAD_REQUEST');
      assert.match(
        body.detail,
        /subNav must be one of organization_details, organization_members, .*, profile;/,
      );
    }
    const html = await client.request(portal('?subNav=billing'));
    assert.equal(html.status, 400);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(
      rig.emulator.requests.slice(before).filter((r) => r.path.startsWith('/account_api')).length,
      0,
    );
  });

  test('a returnUrl off this site is 400, however it is spelled', { timeout: 20_000 }, async () => {
    const client = await signedIn();
    const other = rig.appUrl.replace(/:\d+$/, ':1');
    for (const returnUrl of [
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      '\\\\evil.example',
      'javascript:alert(1)',
      'data:text/html,hi',
      `${other}/`,
      rig.appUrl.replace('127.0.0.1', 'localhost'),
      `${rig.appUrl}@evil.example/`,
      '/ok\n/x',
      'http://[::1',
    ]) {
      const answer = await client.request(portal(`?returnUrl=${encodeURIComponent(returnUrl)}`), {
        headers: JSON_ONLY,
      });
      assert.equal(answer.status, 400, returnUrl);
      assert.match(JSON.parse(answer.body).detail, /returnUrl must be a URL on this site/);
    }
    const long = await client.request(portal(`?returnUrl=/${'a'.repeat(3000)}`), { headers: JSON_ONLY });
    assert.equal(long.status, 400);
  });

  test('no session: a script gets 401 JSON; a browser goes to login and comes back to the portal', {
    timeout: 20_000,
  }, async () => {
    const answer = await fetch(portal('?subNav=profile'), { headers: JSON_ONLY, redirect: 'manual' });
    assert.equal(answer.status, 401);
    assert.deepEqual(await answer.json(), {
      detail: 'Not authenticated: sign in to open the self-serve portal',
      code: 'ERR_NOT_AUTHENTICATED',
    });
    // fetch() always says `Sec-Fetch-Mode: cors`; a browser's navigation is sent as a browser sends it.
    const browser = await rig.app.inject({
      url: '/account/portal?subNav=plan_details',
      headers: { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' },
    });
    assert.equal(browser.statusCode, 302);
    const login = new URL(browser.headers.location as string, rig.appUrl);
    assert.equal(login.pathname, '/api/auth/login');
    assert.equal(login.searchParams.get('returnTo'), '/account/portal?subNav=plan_details');
    // The whole way: sign in, come back to the portal route, on to the provider's portal page.
    login.searchParams.set('login_hint', ADMIN);
    const hops = await new HttpClient().follow(new URL(login.pathname + login.search, rig.appUrl).href);
    assert.equal(hops.at(-1)?.status, 200);
    assert.match(hops.at(-1)!.body, /data-subnav="plan_details"/);
    // An older browser without Sec-Fetch-* is told apart by Accept.
    const old = await rig.app.inject({ url: '/account/portal', headers: { accept: 'text/html' } });
    assert.equal(old.statusCode, 302);
  });

  test('a bearer user token works; a machine token is 403', { timeout: 20_000 }, async () => {
    const tokens = await rig.emulator.control.issueTokens({ user: ADMIN });
    const user = await fetch(portal(), {
      headers: { authorization: `Bearer ${tokens.access_token}` },
      redirect: 'manual',
    });
    assert.equal(user.status, 302);
    const machine = await fetch(portal(), {
      headers: { authorization: `Bearer ${await rig.emulator.control.issueM2mToken()}`, ...JSON_ONLY },
      redirect: 'manual',
    });
    assert.equal(machine.status, 403);
  });

  test('a prefetch answers 204 and makes no portal link', { timeout: 20_000 }, async () => {
    const client = await signedIn();
    const before = rig.emulator.requests.length;
    const answer = await client.request(portal(), { headers: { 'sec-purpose': 'prefetch' } });
    assert.equal(answer.status, 204);
    assert.equal(
      rig.emulator.requests.slice(before).filter((r) => r.path.startsWith('/account_api')).length,
      0,
    );
  });

  test('the provider failing (503) gives 503, not 500; the session survives', {
    timeout: 20_000,
  }, async () => {
    const client = await signedIn();
    rig.emulator.control.failEndpoint('account_api', { mode: 'down' });
    try {
      const answer = await client.request(portal(), { headers: JSON_ONLY });
      assert.equal(answer.status, 503);
      assert.equal(JSON.parse(answer.body).code, 'ERR_PROVIDER_UNAVAILABLE');
    } finally {
      rig.emulator.control.clearFailures();
    }
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
  });
});

describe('fetchPortalLink against a provider that answers badly (a real server)', () => {
  let server: Server;
  let issuer: string;
  let answer: { status: number; body: string } = { status: 200, body: '{}' };
  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function outcome(status: number, body: string): Promise<string> {
    answer = { status, body };
    try {
      const url = await fetchPortalLink(issuer, 'token', 'profile', 'http://127.0.0.1/');
      return `ok ${url.href}`;
    } catch (error) {
      assert.ok(error instanceof KindeAuthError, String(error));
      return `${error.statusCode} ${error.code}`;
    }
  }

  test('only an https URL, or one on the issuer itself, is followed; anything else is 502 or 503', async () => {
    assert.equal(
      await outcome(200, '{"url":"https://acme.kinde.com/portal/x"}'),
      'ok https://acme.kinde.com/portal/x',
    );
    assert.equal(await outcome(200, `{"url":"${issuer}/portal?x=1"}`), `ok ${issuer}/portal?x=1`);
    assert.equal(await outcome(200, '{"url":"http://evil.example/"}'), '502 ERR_PROVIDER_RESPONSE');
    assert.equal(await outcome(200, '{"url":"javascript:alert(1)"}'), '502 ERR_PROVIDER_RESPONSE');
    assert.equal(await outcome(200, '{"url":"/relative"}'), '502 ERR_PROVIDER_RESPONSE');
    assert.equal(await outcome(200, '{"url":42}'), '502 ERR_PROVIDER_RESPONSE');
    assert.equal(await outcome(200, 'not json'), '502 ERR_PROVIDER_RESPONSE');
    assert.equal(await outcome(401, '{"error":"invalid_token"}'), '502 ERR_PROVIDER_RESPONSE');
    assert.equal(await outcome(500, 'oops'), '503 ERR_PROVIDER_UNAVAILABLE');
    assert.equal(await outcome(502, ''), '503 ERR_PROVIDER_UNAVAILABLE');
  });

  test('a provider that cannot be reached is 503', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const gone = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(fetchPortalLink(gone, 't', 'profile', 'http://x/'), {
      code: 'ERR_PROVIDER_UNAVAILABLE',
      statusCode: 503,
    });
  });
});
