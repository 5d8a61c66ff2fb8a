import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeWebhook } from '@kinde/webhooks';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, launchChromium } from 'test-kit';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import { authUrl, baseAuthParams, CLIENT_ID, CLIENT_SECRET, exchangeCode, login, token } from './helpers.js';
import { Receiver } from './webhook-receiver.js';

const skip = chromiumMissing;
let shots = '';
let emu: Emulator;
let hooks: Receiver;
let browser: Browser;
let page: Page;

before(async () => {
  if (skip) return;
  shots = mkdtempSync(join(tmpdir(), 'kinde-dashboard-'));
  hooks = await new Receiver().start();
  const directory = defaultDirectory();
  directory.webhooks = [{ endpoint: `${hooks.url}/kinde`, events: ['user.updated', 'user.authenticated'] }];
  emu = await startEmulator({ directory });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
});

after(async () => {
  if (skip) return;
  await browser?.close();
  await emu?.close();
  await hooks?.close();
});

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function notice(): Promise<string> {
  return (await page.getByRole('status').first().textContent()) ?? '';
}

test('directory page: edit a role with the mouse, and the user gets it (with a user.updated webhook)', {
  skip,
}, async (t) => {
  t.diagnostic(`screenshots in ${shots}`);
  await page.goto(`${emu.issuerUrl}/`);
  assert.equal(await page.title(), 'Directory · Kinde emulator');
  assert.match(
    (await page.locator('pre#env-0').textContent()) ?? '',
    new RegExp(`KINDE_CLIENT_SECRET=${CLIENT_SECRET}`),
  );
  await shot('01-directory');
  const card = page.getByRole('region', { name: 'Uma User' });
  await card.getByLabel('Admin admin').check();
  await card.getByRole('button', { name: /Save Default Org for user@example.test/ }).click();
  assert.match(await notice(), /Saved user@example.test in org_0000000001/);
  assert.deepEqual(emu.directory.users[1]?.organizations[0]?.roles, ['admin']);
  const [got] = await hooks.waitFor(1);
  const event = (await decodeWebhook(got?.body, emu.issuerUrl)) as {
    type: string;
    source: string;
    data: { user: { organizations: { roles: string[] | null }[] } };
  } | null;
  assert.equal(event?.type, 'user.updated');
  assert.equal(event?.source, 'admin');
  assert.deepEqual(event?.data.user.organizations[0]?.roles, ['admin']);
});

test('"Sign in as" makes the next app sign-in skip the picker', { skip }, async () => {
  await page.goto(`${emu.issuerUrl}/`);
  await page.getByRole('button', { name: 'Sign in as user@example.test' }).click();
  assert.match(await notice(), /signed in to the emulator as user@example.test/);
  const app = await new Receiver().start();
  try {
    await page.goto(authUrl(emu, baseAuthParams({ redirect_uri: `${app.url}/callback` })));
    const [callback] = await app.waitFor(1);
    const url = new URL(callback?.path ?? '', app.url);
    assert.equal(url.pathname, '/callback');
    assert.ok(url.searchParams.get('code'), 'a code without the picker');
  } finally {
    await app.close();
  }
});

test('sessions page: revoke an SSO session and a refresh-token family by clicking', { skip }, async () => {
  const { code } = await login(emu, 'admin@example.test', baseAuthParams());
  const tokens = await exchangeCode(emu, code);
  assert.equal(tokens.status, 200);
  const adminSessions = () =>
    emu.context.store.sessions.values().filter((s) => s.userId === emu.directory.users[0]?.id);
  assert.equal(adminSessions().length, 1);
  await page.goto(`${emu.issuerUrl}/dashboard/sessions`);
  await shot('02-sessions');
  await page.getByRole('button', { name: 'Revoke session of admin@example.test' }).click();
  assert.match(await notice(), /Session revoked/);
  assert.equal(adminSessions().length, 0);
  await page
    .getByRole('button', { name: `Revoke refresh tokens of admin@example.test for ${CLIENT_ID}` })
    .click();
  assert.match(await notice(), /family revoked/);
  const refresh = await token(emu, {
    grant_type: 'refresh_token',
    refresh_token: String(tokens.body.refresh_token),
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  assert.equal(refresh.status, 400);
  assert.equal(refresh.body.error, 'invalid_grant');
});

test('clock page: advance with the keyboard and expire an access token; inject a fault', {
  skip,
}, async () => {
  const { access_token } = await emu.control.issueTokens({ user: 'admin@example.test' });
  await page.goto(`${emu.issuerUrl}/dashboard/clock`);
  await page.getByRole('button', { name: '+1 day' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/dashboard/clock');
  assert.match(await notice(), /Clock moved by 86400 s/);
  assert.equal(emu.clock.offsetSeconds, 86_400);
  assert.match((await page.locator('#clock-offset').textContent()) ?? '', /offset 86400 s/);
  const profile = await fetch(`${emu.issuerUrl}/oauth2/v2/user_profile`, {
    headers: { authorization: `Bearer ${access_token}` },
  });
  assert.equal(profile.status, 401, 'the access token expired by the emulator clock');
  await page.getByLabel('Endpoint').selectOption('jwks');
  await page.getByLabel('Requests affected (empty: until cleared)').fill('1');
  await page.getByRole('button', { name: 'Inject' }).click();
  assert.match(await notice(), /Failure injected into jwks/);
  await shot('03-clock');
  assert.equal((await fetch(`${emu.issuerUrl}/.well-known/jwks.json`)).status, 503);
  await page.getByRole('button', { name: 'Back to real time' }).click();
  assert.equal(emu.clock.offsetSeconds, 0);
});

test('webhooks page: fire an event and replay a delivery; requests page filters', { skip }, async () => {
  const before = hooks.received.length;
  await page.goto(`${emu.issuerUrl}/dashboard/webhooks`);
  await page.getByLabel('Event', { exact: true }).selectOption('user.authenticated');
  await page
    .getByLabel('About user (user and membership events)')
    .selectOption({ label: 'user@example.test' });
  await page.getByRole('button', { name: 'Fire event' }).click();
  assert.match(await notice(), /user.authenticated fired \(event_[0-9a-f]{32}\) to 1 endpoint/);
  await hooks.waitFor(before + 1);
  await emu.webhooks.idle();
  await page.reload();
  await page
    .getByRole('button', { name: /^Replay user.authenticated/ })
    .first()
    .click();
  assert.match(await notice(), /Replaying user.authenticated/);
  const got = await hooks.waitFor(before + 2);
  assert.equal(got[before]?.headers['webhook-id'], got[before + 1]?.headers['webhook-id']);
  await emu.webhooks.idle();
  await page.reload();
  await shot('04-webhooks');
  await page.goto(`${emu.issuerUrl}/dashboard/requests`);
  await page.getByLabel('Path contains').fill('token');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL('**/dashboard/requests?path=token**');
  const paths = await page.locator('tbody td:nth-child(3) code:not(.muted)').allTextContents();
  assert.ok(paths.length > 0 && paths.every((p) => p === '/oauth2/token'), JSON.stringify(paths));
  await shot('05-requests');
});
