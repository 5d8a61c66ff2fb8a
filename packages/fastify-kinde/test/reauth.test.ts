import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpClient, pickUser, pickUserRequest } from 'test-kit';
import { type Rig, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const HOME = '/home';
const JSON_ACCEPT = { accept: 'application/json' };

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64');
}

/** The claims of the access token the app holds for `client`. */
async function accessClaims(rig: Rig, client: HttpClient): Promise<Record<string, unknown>> {
  const who = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body);
  assert.equal(who.kind, 'user', 'signed in');
  return JSON.parse(Buffer.from(who.token.split('.')[1], 'base64url').toString());
}

describe('re-authentication: an expired sign-in restarts where it left off (reauth_state)', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({ kinde: { postLoginRedirectUrl: HOME } });
  });
  after(() => rig.close());

  test('the emulator answers an expired sign-in with login_link_expired; the login restarts and lands on returnTo', async () => {
    const client = new HttpClient();
    const query = new URLSearchParams({ returnTo: '/items/9', connection_id: 'conn_restart', lang: 'fr' });
    const hops = await client.follow(`${rig.appUrl}/api/auth/login?${query}`);
    const page = hops.at(-1)!;
    assert.equal(page.status, 200);
    // The sign-in expires at the provider while the page is open.
    rig.emulator.clock.advance(16 * 60);
    let expired: Awaited<ReturnType<typeof pickUserRequest>>;
    try {
      expired = await pickUserRequest(client, page, ADMIN);
    } finally {
      rig.emulator.clock.advance(-16 * 60);
    }
    assert.equal(expired.status, 302, expired.body);
    const answer = new URL(expired.location!);
    assert.equal(answer.searchParams.get('error'), 'login_link_expired');
    const state = JSON.parse(atob(answer.searchParams.get('reauth_state')!));
    assert.equal(state.connection_id, 'conn_restart');
    assert.equal(state.lang, 'fr');
    assert.equal(state.state, undefined, 'no state, nonce or PKCE in it');

    const restart = await client.request(expired.location!);
    assert.equal(restart.status, 302, restart.body);
    const again = new URL(restart.location!);
    assert.equal(again.pathname, '/api/auth/login');
    assert.equal(again.searchParams.get('returnTo'), '/items/9', 'returnTo from this browser’s attempt');
    assert.equal(again.searchParams.get('connection_id'), 'conn_restart');

    const toProvider = await client.request(restart.location!);
    const sent = new URL(toProvider.location!).searchParams;
    assert.equal(sent.get('connection_id'), 'conn_restart');
    assert.equal(sent.get('lang'), 'fr');
    const newPage = await client.follow(toProvider.location!);
    const back = await pickUser(client, newPage.at(-1)!, ADMIN);
    assert.equal(back.at(-1)!.url, `${rig.appUrl}/items/9`);
    await accessClaims(rig, client);
  });

  test('a restart without the attempt lands on the default; create_org restarts on its own route', async () => {
    const client = new HttpClient();
    const params = {
      is_create_org: 'true',
      org_name: 'Acme',
      prompt: 'create',
      redirect_uri: 'https://evil.example/cb',
    };
    const answer = await client.request(
      `${rig.appUrl}/api/auth/kinde_callback?${new URLSearchParams({ error: 'login_link_expired', reauth_state: b64(params), state: 'gone' })}`,
    );
    assert.equal(answer.status, 302, answer.body);
    const restart = new URL(answer.location!);
    assert.equal(restart.pathname, '/api/auth/create_org');
    assert.equal(restart.searchParams.get('returnTo'), HOME);
    assert.equal(restart.searchParams.get('org_name'), 'Acme');
    assert.equal(
      restart.searchParams.has('redirect_uri'),
      false,
      'protocol parameters are remade, not carried',
    );
    assert.equal(restart.searchParams.has('is_create_org'), false);
    const silent = await client.request(
      `${rig.appUrl}/api/auth/kinde_callback?${new URLSearchParams({ error: 'login_link_expired', reauth_state: b64({ prompt: 'none', org_code: 'org_x' }) })}`,
    );
    const restarted = new URL(silent.location!).searchParams;
    assert.equal(restarted.has('prompt'), false, 'a restart is never silent');
    assert.equal(restarted.get('org_code'), 'org_x');
    // A reauth_state without parameters restarts a plain login.
    const bare = await client.request(`${rig.appUrl}/api/auth/kinde_callback?error=login_link_expired`);
    assert.equal(new URL(bare.location!).pathname, '/api/auth/login');
  });

  test('reauth_state with a post_login_redirect_url outside the site lands on the default', async () => {
    const answer = await new HttpClient().request(
      `${rig.appUrl}/api/auth/kinde_callback?${new URLSearchParams({
        error: 'login_link_expired',
        reauth_state: b64({ post_login_redirect_url: 'https://evil.example/' }),
      })}`,
    );
    assert.equal(new URL(answer.location!).searchParams.get('returnTo'), HOME);
  });

  test('bad reauth_state is a 400, at the callback and on the login route', async () => {
    const bad = [
      '%%%',
      Buffer.from('not json').toString('base64'),
      b64(['a']),
      b64('text'),
      b64({ connection_id: 'conn x' }),
      b64({ lang: { nested: true } }),
      b64({ prompt: 'consent' }),
      b64(Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${i}`, 'v']))),
      'A'.repeat(4097),
    ];
    for (const value of bad) {
      const callback = await new HttpClient().request(
        `${rig.appUrl}/api/auth/kinde_callback?${new URLSearchParams({ error: 'login_link_expired', reauth_state: value })}`,
        { headers: JSON_ACCEPT },
      );
      assert.equal(callback.status, 400, `${value.slice(0, 40)}: ${callback.body}`);
      assert.match(JSON.parse(callback.body).detail, /reauth_state|must be|characters/);
      const login = await new HttpClient().request(
        `${rig.appUrl}/api/auth/login?${new URLSearchParams({ reauth_state: value })}`,
        { headers: JSON_ACCEPT },
      );
      assert.equal(login.status, 400, `login ${value.slice(0, 40)}: ${login.body}`);
    }
  });

  test("the login route takes js-utils' reauth_state; its own query wins; unknown keys are dropped", async () => {
    const state = b64({
      connectionId: 'conn_js',
      org_code: 'org_0000000001',
      lang: 'de',
      favourite_colour: 'blue',
    });
    const answer = await new HttpClient().request(
      `${rig.appUrl}/api/auth/login?${new URLSearchParams({ reauth_state: state, lang: 'en' })}`,
    );
    assert.equal(answer.status, 302, answer.body);
    const sent = new URL(answer.location!).searchParams;
    assert.equal(sent.get('connection_id'), 'conn_js');
    assert.equal(sent.get('org_code'), 'org_0000000001');
    assert.equal(sent.get('lang'), 'en');
    assert.equal(sent.has('favourite_colour'), false);
    assert.equal(sent.has('reauth_state'), false);
  });
});

describe('silent login (prompt=none) and switchOrg', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({ emulator: { headlessLogin: true }, kinde: { postLoginRedirectUrl: HOME } });
    rig.emulator.directory.organizations.push({ code: 'org_second', name: 'Second Org' });
    const admin = rig.emulator.directory.users.find((u) => u.email === ADMIN)!;
    admin.organizations.push({ orgCode: 'org_second', permissions: [], roles: [] });
  });
  after(() => rig.close());

  test('without a session at the provider: back to returnTo, signed out, no error page', async () => {
    const client = new HttpClient();
    const hops = await client.follow(`${rig.appUrl}/api/auth/login?prompt=none&returnTo=%2Fitems%2F3`);
    const provider = hops.find((h) => h.url.startsWith(rig.emulator.issuerUrl))!;
    assert.equal(
      new URL(provider.location!).searchParams.get('error'),
      'login_required',
      'the emulator answers login_required',
    );
    const last = hops.at(-1)!;
    assert.equal(hops.at(-2)!.location, `${rig.appUrl}/items/3`);
    assert.notEqual(last.status, 400);
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401, 'still signed out');
  });

  test('with a session at the provider: signed in without a page', async () => {
    const client = new HttpClient();
    await client.follow(`${rig.appUrl}/api/auth/login?login_hint=${ADMIN}`);
    await client.request(`${rig.appUrl}/api/auth/logout`, { headers: { 'sec-fetch-site': 'same-origin' } });
    // Signed out here only: the provider's session cookie is kept by sending no request to its /logout.
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
    const hops = await client.follow(`${rig.appUrl}/api/auth/login?prompt=none&returnTo=%2Fwhoami`);
    assert.equal(hops.at(-1)!.url, `${rig.appUrl}/whoami`);
    await accessClaims(rig, client);
  });

  test('a provider error for a login that was not silent is still an error page', async () => {
    const client = new HttpClient();
    const start = await client.request(`${rig.appUrl}/api/auth/login?returnTo=%2Fx`);
    const state = new URL(start.location!).searchParams.get('state')!;
    const answer = await client.request(
      `${rig.appUrl}/api/auth/kinde_callback?error=login_required&state=${state}`,
      { headers: JSON_ACCEPT },
    );
    assert.equal(answer.status, 400);
    assert.match(JSON.parse(answer.body).detail, /login_required/);
  });

  test('switchOrgUrl moves a signed-in user into another organization without a prompt', async () => {
    const client = new HttpClient();
    await client.follow(`${rig.appUrl}/api/auth/login?login_hint=${ADMIN}&org_code=org_0000000001`);
    assert.equal((await accessClaims(rig, client)).org_code, 'org_0000000001');
    const url = rig.app.kinde.switchOrgUrl('org_second', { returnTo: '/whoami' });
    assert.equal(url, '/api/auth/login?org_code=org_second&prompt=none&returnTo=%2Fwhoami');
    const hops = await client.follow(`${rig.appUrl}${url}`);
    assert.equal(hops.at(-1)!.url, `${rig.appUrl}/whoami`);
    assert.equal((await accessClaims(rig, client)).org_code, 'org_second');
  });

  test('switchOrgUrl refuses what is not an organization code', () => {
    for (const bad of ['', 'org x', 'org_1&prompt=login', 'a'.repeat(129), 42]) {
      assert.throws(() => rig.app.kinde.switchOrgUrl(bad as string), TypeError, String(bad));
    }
  });
});
