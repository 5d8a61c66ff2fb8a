import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Emulator, startEmulator } from '../src/index.js';
import { authUrl, baseAuthParams, get, postForm, REDIRECT } from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

function redirected(res: Response): URL {
  assert.equal(res.status, 302, `expected a redirect, got ${res.status}`);
  return new URL(res.headers.get('location') ?? '');
}

test("Kinde's login parameters are accepted, recorded and acted on", async () => {
  const extras = {
    connection_id: 'conn_google',
    invitation_code: 'inv_1',
    is_invitation: 'true',
    plan_interest: 'pro',
    pricing_table_key: 'main',
    workflow_deployment_id: 'wd_1',
    has_success_page: 'false',
    supports_reauth: 'true',
    pages_mode: 'preview',
    utm_source: 'newsletter',
    ttclid: 'tt-1',
  };
  const res = await get(authUrl(emu, baseAuthParams(extras)));
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /data-connection="conn_google"/, 'the page names the connection');
  assert.match(html, /Create account/, 'an invitation opens sign-up');
  assert.match(html, /name="resume" value="[A-Za-z0-9_-]+"/, 'supports_reauth: the page can restart');
  const txn = /name="txn" value="([^"]+)"/.exec(html)![1]!;
  const recorded = emu.context.store.transactions.get(txn)!;
  assert.deepEqual(recorded.extras, extras);
});

test('bad values are redirected back as invalid_request, naming the parameter', async () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ has_success_page: 'yes' }, /has_success_page/],
    [{ supports_reauth: '1' }, /supports_reauth/],
    [{ connection_id: 'x'.repeat(257) }, /connection_id/],
    [{ utm_source: 'a\nb' }, /utm_source/],
    [{ pages_mode: 'live' }, /pages_mode/],
    [{ invitation_code: 'inv_1' }, /is_invitation/],
    [{ is_invitation: 'true' }, /invitation_code/],
  ];
  for (const [extra, pattern] of bad) {
    const target = redirected(await get(authUrl(emu, baseAuthParams(extra))));
    assert.equal(`${target.origin}${target.pathname}`, REDIRECT);
    assert.equal(target.searchParams.get('error'), 'invalid_request', JSON.stringify(extra));
    assert.match(target.searchParams.get('error_description') ?? '', pattern);
    assert.equal(target.searchParams.get('state'), 'st-123');
  }
});

test('an expired sign-in of an app that supports reauth goes back with login_link_expired and reauth_state', async () => {
  const params = baseAuthParams({
    supports_reauth: 'true',
    connection_id: 'conn_x',
    org_code: 'org_0000000001',
    audience: 'api://a api://b',
    nonce: 'n-1',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  const html = await (await get(authUrl(emu, params))).text();
  const txn = /name="txn" value="([^"]+)"/.exec(html)![1]!;
  const resume = /name="resume" value="([^"]+)"/.exec(html)![1]!;
  emu.control.advanceClock(16 * 60);
  let res: Response;
  try {
    res = await postForm(`${emu.issuerUrl}/oauth2/auth/login`, {
      txn,
      resume,
      user_id: emu.directory.users[0]!.id,
    });
  } finally {
    emu.control.advanceClock(-16 * 60);
  }
  const target = redirected(res);
  assert.equal(`${target.origin}${target.pathname}`, REDIRECT);
  assert.equal(target.searchParams.get('error'), 'login_link_expired');
  assert.equal(target.searchParams.get('state'), 'st-123');
  const state = JSON.parse(atob(target.searchParams.get('reauth_state')!));
  assert.deepEqual(state, {
    connection_id: 'conn_x',
    org_code: 'org_0000000001',
    audience: 'api://a api://b',
  });
});

test('a resume token naming another callback, or none, gets the plain expired page', async () => {
  const forged = Buffer.from(
    JSON.stringify({
      client_id: baseAuthParams().client_id,
      redirect_uri: 'https://evil.example/cb',
      params: {},
    }),
  ).toString('base64url');
  for (const resume of [forged, 'not-base64-json', '']) {
    const res = await postForm(`${emu.issuerUrl}/oauth2/auth/login`, {
      txn: 'unknown',
      resume,
      user_id: 'x',
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /Sign-in expired/);
  }
  // Without supports_reauth the page carries no resume token.
  const html = await (await get(authUrl(emu, baseAuthParams()))).text();
  assert.doesNotMatch(html, /name="resume"/);
});
