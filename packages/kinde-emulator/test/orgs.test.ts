import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import { authUrl, baseAuthParams, exchangeCode, get, login, parseLoginPage, postForm } from './helpers.js';

let emu: Emulator;
before(async () => {
  const directory = defaultDirectory();
  directory.organizations.push({ code: 'org_acme', name: 'Acme Ltd' });
  directory.users[0]?.organizations.push({ orgCode: 'org_acme', permissions: ['read:reports'], roles: [] });
  emu = await startEmulator({ directory });
});
after(() => emu.close());

async function exchange(code: string) {
  const res = await exchangeCode(emu, code);
  assert.equal(res.status, 200);
  return { at: decodeJwt(String(res.body.access_token)), id: decodeJwt(String(res.body.id_token)) };
}

async function pick(email: string, params = baseAuthParams()) {
  const page = parseLoginPage(await (await get(authUrl(emu, params))).text());
  const user = page.users.find((u) => u.text.includes(email));
  return postForm(`${emu.issuerUrl}/oauth2/auth/login`, { txn: page.txn, user_id: user?.id ?? '' });
}

test('a user in several organizations gets the organization picker', async () => {
  const res = await pick('admin@example.test');
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /Choose an organization/);
  assert.match(html, /Acme Ltd/);
  const txn = /name="txn" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const chosen = await postForm(`${emu.issuerUrl}/oauth2/auth/org`, { txn, org_code: 'org_acme' });
  assert.equal(chosen.status, 302);
  const code = new URL(chosen.headers.get('location') ?? '').searchParams.get('code') ?? '';
  const { at, id } = await exchange(code);
  assert.equal(at.org_code, 'org_acme');
  assert.deepEqual(at.permissions, ['read:reports']);
  assert.deepEqual(id.org_codes, ['org_0000000001', 'org_acme']);
  const notMember = await postForm(`${emu.issuerUrl}/oauth2/auth/org`, { txn, org_code: 'org_acme' });
  assert.equal(notMember.status, 400);
});

test('org_code in the request selects the organization; a non-member is sent back with access_denied', async () => {
  const r = await login(emu, 'admin@example.test', baseAuthParams({ org_code: 'org_0000000001' }));
  assert.equal((await exchange(r.code)).at.org_code, 'org_0000000001');
  const denied = await pick('user@example.test', baseAuthParams({ org_code: 'org_acme' }));
  assert.equal(denied.status, 302);
  const loc = new URL(denied.headers.get('location') ?? '');
  assert.equal(loc.searchParams.get('error'), 'access_denied');
  assert.equal(loc.searchParams.get('state'), 'st-123');
});

test('is_create_org with org_name creates an organization and signs in to it', async () => {
  const res = await pick(
    'user@example.test',
    baseAuthParams({ is_create_org: 'true', org_name: 'Uma Corp', start_page: 'registration' }),
  );
  assert.equal(res.status, 302);
  const code = new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? '';
  const { at, id } = await exchange(code);
  assert.match(String(at.org_code), /^org_[0-9a-f]{12}$/);
  assert.equal(at.org_name, 'Uma Corp');
  assert.ok((id.organizations as { name: string }[]).some((o) => o.name === 'Uma Corp'));
});

test('free email field: a new email signs up a user; a bad email re-renders the page with an error', async () => {
  const page = parseLoginPage(await (await get(authUrl(emu, baseAuthParams({ prompt: 'create' })))).text());
  const res = await postForm(`${emu.issuerUrl}/oauth2/auth/login`, {
    txn: page.txn,
    email: 'newbie@example.test',
    given_name: 'New',
    family_name: 'Bie',
  });
  assert.equal(res.status, 302);
  const { id } = await exchange(new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? '');
  assert.equal(id.email, 'newbie@example.test');
  assert.equal(id.name, 'New Bie');
  const page2 = parseLoginPage(await (await get(authUrl(emu, baseAuthParams()))).text());
  const bad = await postForm(`${emu.issuerUrl}/oauth2/auth/login`, { txn: page2.txn, email: 'not an email' });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /Enter a valid email address/);
  const expired = await postForm(`${emu.issuerUrl}/oauth2/auth/login`, { txn: 'nope', user_id: 'x' });
  assert.equal(expired.status, 400);
  assert.match(await expired.text(), /sign in again/);
});

test('prompt=login ignores the SSO session and shows the page', async () => {
  const r = await login(emu, 'admin@example.test', baseAuthParams({ org_code: 'org_0000000001' }));
  const silent = await get(authUrl(emu, baseAuthParams()), r.cookie);
  assert.equal(silent.status, 302);
  const forced = await get(authUrl(emu, baseAuthParams({ prompt: 'login' })), r.cookie);
  assert.equal(forced.status, 200);
  const lang = await get(authUrl(emu, baseAuthParams({ lang: 'fr' })));
  assert.match(await lang.text(), /<html lang="fr">/);
});
