import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { HttpClient } from 'test-kit';
import fastifyKinde from '../src/index.js';
import { compileAllowList, returnToTarget } from '../src/return-to.js';
import { type Rig, SECRET, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const HOME = '/home';
const JSON_ACCEPT = { accept: 'application/json' };
const ALLOWED = 'https://([a-z0-9-]+\\.)?partner\\.example/.*';

/** Starts a login with `query` and answers the authorize URL's parameters as the provider got them. */
async function authorizeParams(rig: Rig, query: string, route = '/api/auth/login'): Promise<URLSearchParams> {
  const start = await new HttpClient().request(`${rig.appUrl}${route}?${query}`, { headers: JSON_ACCEPT });
  assert.equal(start.status, 302, `${query}: ${start.body}`);
  return new URL(start.location!).searchParams;
}

/** A full headless login with `query`; answers the callback's Location and the client (signed in). */
async function loginWith(rig: Rig, query: URLSearchParams, route = '/api/auth/login') {
  const client = new HttpClient();
  query.set('login_hint', ADMIN);
  const start = await client.request(`${rig.appUrl}${route}?${query}`);
  assert.equal(start.status, 302, start.body);
  const provider = await client.request(start.location!);
  assert.equal(provider.status, 302, provider.body);
  const callback = await client.request(provider.location!);
  assert.equal(callback.status, 302, callback.body);
  return { location: callback.headers.get('location') ?? '', client };
}

async function status400(rig: Rig, query: string, pattern: RegExp): Promise<void> {
  const answer = await new HttpClient().request(`${rig.appUrl}/api/auth/login?${query}`, {
    headers: JSON_ACCEPT,
  });
  assert.equal(answer.status, 400, `${query}: ${answer.status} ${answer.body}`);
  assert.match(JSON.parse(answer.body).detail, pattern, query);
}

describe("Kinde's login parameters", () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({
      emulator: { headlessLogin: true },
      kinde: {
        postLoginRedirectUrl: HOME,
        audience: 'api://items',
        postLoginAllowedUrlRegex: ALLOWED,
        postLogoutAllowedUrlRegex: 'https://partner\\.example/bye',
      },
    });
  });
  after(() => rig.close());

  test('each allowed parameter reaches /oauth2/auth as Kinde names it, and the emulator checked it', async () => {
    const given = {
      connection_id: 'conn_0192c3a1b2',
      invitation_code: 'inv_ABC-123',
      plan_interest: 'pro_plan',
      pricing_table_key: 'main.table',
      workflow_deployment_id: 'wd_12:34',
      has_success_page: 'true',
      utm_source: 'newsletter',
      utm_medium: 'email',
      utm_campaign: 'spring sale',
      utm_content: 'hero',
      utm_term: 'auth',
      gclid: 'abc.123',
      lang: 'fr',
      org_code: 'org_0000000001',
    };
    const before = rig.emulator.requests.length;
    const client = new HttpClient();
    const start = await client.request(`${rig.appUrl}/api/auth/login?${new URLSearchParams(given)}`);
    assert.equal(start.status, 302, start.body);
    const sent = new URL(start.location!).searchParams;
    for (const [name, value] of Object.entries(given)) assert.equal(sent.get(name), value, name);
    assert.equal(sent.get('is_invitation'), 'true', 'sent with invitation_code, as js-utils does');
    assert.equal(sent.get('supports_reauth'), 'true', 'an expired login can be restarted');
    // The provider received them (its request log) and took them: it shows its sign-up page.
    const page = await client.request(start.location!);
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /data-connection="conn_0192c3a1b2"/);
    assert.match(page.body, /Create account/, 'an invitation opens sign-up');
    const seen = rig.emulator.requests.slice(before).find((r) => r.path === '/oauth2/auth');
    assert.equal(seen?.query?.connection_id, 'conn_0192c3a1b2');
    assert.equal(seen?.query?.utm_campaign, 'spring sale');
    assert.equal(seen?.query?.invitation_code, 'inv_ABC-123');
  });

  test('an unknown or repeated login parameter is a 400 that names it', async () => {
    await status400(rig, 'conection_id=conn_1', /Unknown login parameter "conection_id"/);
    await status400(rig, 'state=abc', /Unknown login parameter "state"/);
    await status400(rig, 'redirect_uri=https://evil.example', /Unknown login parameter "redirect_uri"/);
    await status400(rig, 'client_id=other', /Unknown login parameter "client_id"/);
    await status400(rig, 'utm_source=a&utm_source=b', /utm_source/);
  });

  test('bad values are a 400 naming the parameter', async () => {
    const bad: [string, RegExp][] = [
      [`connection_id=${'a'.repeat(129)}`, /connection_id/],
      ['connection_id=conn%20x', /connection_id/],
      ['invitation_code=a%2Fb', /invitation_code/],
      ['plan_interest=%3Cscript%3E', /plan_interest/],
      ['pricing_table_key=a%0Ab', /pricing_table_key/],
      ['workflow_deployment_id=', /workflow_deployment_id/],
      ['has_success_page=yes', /has_success_page/],
      ['supports_reauth=1', /supports_reauth/],
      ['pages_mode=live', /pages_mode/],
      [`utm_source=${'x'.repeat(257)}`, /utm_source/],
      ['utm_term=a%00b', /utm_term/],
      ['prompt=consent', /prompt/],
      [`audience=${Array.from({ length: 11 }, (_, i) => `api://a${i}`).join('%20')}`, /audience/],
      ['reauth_state=%25%25%25', /reauth_state/],
    ];
    for (const [query, pattern] of bad) {
      await status400(rig, query, pattern);
    }
  });

  test('a per-request audience adds to the configured one, and the login completes', async () => {
    const sent = await authorizeParams(rig, 'audience=api://reports%20api://items');
    assert.deepEqual(sent.getAll('audience'), ['api://items', 'api://reports']);
    const { location, client } = await loginWith(
      rig,
      new URLSearchParams({ audience: 'api://reports', returnTo: '/whoami' }),
    );
    assert.equal(location, '/whoami', 'the callback accepted the login');
    const who = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body);
    assert.equal(who.kind, 'user');
    const token = JSON.parse(Buffer.from(who.token.split('.')[1], 'base64url').toString());
    assert.deepEqual([...token.aud].sort(), ['api://items', 'api://reports']);
  });

  test('post_login_redirect_url is returnTo by its Kinde name; returnTo wins when both are given', async () => {
    assert.equal(
      (await loginWith(rig, new URLSearchParams({ post_login_redirect_url: '/items/1?a=b' }))).location,
      '/items/1?a=b',
    );
    assert.equal(
      (await loginWith(rig, new URLSearchParams({ post_login_redirect_url: `${rig.appUrl}/items/2` })))
        .location,
      '/items/2',
    );
    assert.equal(
      (await loginWith(rig, new URLSearchParams({ returnTo: '/a', post_login_redirect_url: '/b' }))).location,
      '/a',
    );
  });

  test('absolute URLs of other origins land only when the allow-list matches all of the URL', async () => {
    const cases: [string, string][] = [
      ['https://partner.example/welcome', 'https://partner.example/welcome'],
      ['https://app.partner.example/x?y=1', 'https://app.partner.example/x?y=1'],
      ['HTTPS://APP.PARTNER.EXAMPLE/x', 'https://app.partner.example/x'],
      ['https://partner.example/a/../b', 'https://partner.example/b'],
      // Outside the list, or only partly matching it: the default, as for a bad returnTo.
      ['https://evil.example/', HOME],
      ['https://partner.example.evil.example/', HOME],
      ['https://evil.example/?https://partner.example/', HOME],
      ['https://partner.example', 'https://partner.example/'],
      ['http://partner.example/x', HOME],
      ['https://user@partner.example/x', HOME],
      ['https://partner.example@evil.example/', HOME],
      ['javascript://partner.example/%0aalert(1)', HOME],
      ['https://partner.example/\nx', HOME],
    ];
    for (const [given, expected] of cases) {
      for (const name of ['post_login_redirect_url', 'returnTo']) {
        const { location } = await loginWith(rig, new URLSearchParams({ [name]: given }));
        assert.equal(location, expected, `${name}=${JSON.stringify(given)}`);
      }
    }
  });

  test('post_logout_redirect_url: this site or the logout allow-list, else the default', async () => {
    const site = rig.appUrl;
    const cases: [string, string][] = [
      ['/bye', `${site}/bye`],
      [`${site}/see-you?x=1`, `${site}/see-you?x=1`],
      ['https://partner.example/bye', 'https://partner.example/bye'],
      ['https://partner.example/bye/more', site],
      ['https://evil.example/bye', site],
      ['//evil.example', site],
      ['javascript:alert(1)', site],
    ];
    for (const [given, expected] of cases) {
      const { client } = await loginWith(rig, new URLSearchParams());
      const out = await client.request(
        `${site}/api/auth/logout?${new URLSearchParams({ post_logout_redirect_url: given })}`,
        { headers: { 'sec-fetch-site': 'same-origin' } },
      );
      assert.equal(out.status, 302);
      const providerLogout = new URL(out.location!);
      assert.equal(providerLogout.origin, rig.emulator.issuerUrl);
      assert.equal(providerLogout.searchParams.get('redirect'), expected, given);
      assert.equal((await client.request(`${site}/`)).status, 401, 'signed out');
    }
    // The confirm page of a cross-site GET keeps an allowed target for its POST, and drops a bad one.
    const cross = { 'sec-fetch-site': 'cross-site' };
    const keep = await new HttpClient().request(`${site}/api/auth/logout?post_logout_redirect_url=%2Fbye`, {
      headers: cross,
    });
    assert.match(
      keep.body,
      /action="\/api\/auth\/logout\?post_logout_redirect_url=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fbye"/,
    );
    const drop = await new HttpClient().request(
      `${site}/api/auth/logout?post_logout_redirect_url=https%3A%2F%2Fevil.example`,
      {
        headers: cross,
      },
    );
    assert.match(drop.body, /action="\/api\/auth\/logout"/);
  });
});

describe('the allow-lists: anchored, compiled once, refused when invalid or exponential', () => {
  const site = new URL('https://app.example');
  const base = {
    issuerUrl: 'http://127.0.0.1:9',
    clientId: 'c',
    siteUrl: 'http://127.0.0.1:8000',
    sessionSecret: SECRET,
    sessionStore: 'memory' as const,
  };

  test('an invalid or nested-quantifier pattern is a config error at start, by option and by variable', async () => {
    const bad: [Record<string, string>, RegExp][] = [
      [
        { postLoginAllowedUrlRegex: 'https://(unclosed' },
        /KINDE_POST_LOGIN_ALLOWED_URL_REGEX .*not a valid regular expression/,
      ],
      [{ postLoginAllowedUrlRegex: 'https://(a+)+\\.example/' }, /exponential/],
      [{ postLoginAllowedUrlRegex: '(\\w*)*' }, /exponential/],
      [{ postLogoutAllowedUrlRegex: '[' }, /KINDE_POST_LOGOUT_ALLOWED_URL_REGEX/],
    ];
    for (const [options, pattern] of bad) {
      const app = Fastify();
      await assert.rejects(async () => {
        await app.register(fastifyKinde, { ...base, env: {}, ...options });
        await app.ready();
      }, pattern);
      await app.close();
    }
    const app = Fastify();
    await assert.rejects(async () => {
      await app.register(fastifyKinde, { ...base, env: { KINDE_POST_LOGIN_ALLOWED_URL_REGEX: '(x+)*' } });
      await app.ready();
    }, /KINDE_POST_LOGIN_ALLOWED_URL_REGEX/);
    await app.close();
  });

  test('returnToTarget: paths of the site as before; absolute URLs only by a whole match', () => {
    const allowed = compileAllowList('https://partner\\.example/.*', 'X');
    assert.equal(returnToTarget('/a', HOME, site, allowed), '/a');
    assert.equal(
      returnToTarget('https://partner.example/x', HOME, site, allowed),
      'https://partner.example/x',
    );
    assert.equal(returnToTarget('https://partner.example/x', HOME, site, undefined), HOME);
    assert.equal(returnToTarget('https://evil.example/https://partner.example/x', HOME, site, allowed), HOME);
    assert.equal(returnToTarget(`https://partner.example/${'a'.repeat(2100)}`, HOME, site, allowed), HOME);
    // Unanchored in the Next.js SDK; anchored here: a pattern naming the host alone matches nothing longer.
    const hostOnly = compileAllowList('https://partner\\.example', 'X');
    assert.equal(returnToTarget('https://partner.example/', HOME, site, hostOnly), HOME);
    assert.equal(returnToTarget('https://partner.example.evil.example/', HOME, site, hostOnly), HOME);
  });
});
