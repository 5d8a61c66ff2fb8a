import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { artifactsDir, chromiumMissing, launchChromium } from 'test-kit';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import { authUrl, baseAuthParams } from './helpers.js';

const skip = chromiumMissing;
let ARTIFACTS = '';

let emu: Emulator;
let app: Server;
let appUrl: string;
let browser: Browser;

before(async () => {
  if (skip) return;
  ARTIFACTS = artifactsDir('kinde-emulator');
  const directory = defaultDirectory();
  directory.organizations.push({ code: 'org_acme', name: 'Acme Ltd' });
  directory.users[0]?.organizations.push({ orgCode: 'org_acme', permissions: [], roles: [] });
  emu = await startEmulator({ directory });
  // A stand-in for the application's callback: shows what came back.
  app = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<h1>Callback</h1><p id="code">${url.searchParams.get('code') ? 'got a code' : 'no code'}</p>`);
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  appUrl = `http://127.0.0.1:${(app.address() as { port: number }).port}`;
  browser = await launchChromium();
});

after(async () => {
  if (skip) return;
  await browser?.close();
  app?.close();
  await emu?.close();
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

test('login page, organization picker and callback in Chromium', { skip }, async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000); // a broken flow fails in seconds, not 30
  const url = authUrl(emu, baseAuthParams({ redirect_uri: `${appUrl}/callback` }));
  await page.goto(url);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in');
  await page.getByRole('button', { name: /Uma User/ }).waitFor();
  assert.ok(await page.getByRole('textbox', { name: 'Email' }).isVisible());
  await shot(page, 'login');
  await page.getByRole('button', { name: /Ada Admin.*admin@example\.test/ }).click();
  await page.getByRole('heading', { name: 'Choose an organization' }).waitFor();
  await shot(page, 'organization-picker');
  await page.getByRole('button', { name: /Acme Ltd/ }).click();
  await page.waitForURL(`${appUrl}/callback?**`);
  assert.equal(await page.locator('#code').textContent(), 'got a code');
  await page.close();
});

test('sign-up, error and signed-out pages in Chromium', { skip }, async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000); // a broken flow fails in seconds, not 30
  await page.goto(authUrl(emu, baseAuthParams({ redirect_uri: `${appUrl}/callback`, prompt: 'create' })));
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Create account');
  await page.getByRole('textbox', { name: 'Email' }).fill('new.person@example.test');
  await page.getByLabel('First name').fill('New');
  await page.getByLabel('Last name').fill('Person');
  await shot(page, 'sign-up');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${appUrl}/callback?**`);
  const bad = await page.goto(authUrl(emu, baseAuthParams({ redirect_uri: 'https://evil.example/cb' })));
  assert.equal(bad?.status(), 400);
  assert.match((await page.getByRole('alert').textContent()) ?? '', /not an allowed callback URL/);
  await shot(page, 'error');
  await page.goto(`${emu.issuerUrl}/logout`);
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await shot(page, 'signed-out');
  await page.close();
});
