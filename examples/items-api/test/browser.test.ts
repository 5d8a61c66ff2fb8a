import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { type Running, startItemsApi } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../../test-artifacts/', import.meta.url));
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('a person logs in with Chromium', {
  skip: !existsSync(CHROMIUM) && `${CHROMIUM} is not installed`,
}, () => {
  let api: Running;
  let browser: Browser;
  before(async () => {
    api = await startItemsApi();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await api?.close();
  });

  test('login on the emulator page, read {"Hello":"World"}, log out', async () => {
    const page = await browser.newPage();
    await page.goto(`${api.appUrl}/api/auth/login`);
    assert.ok(page.url().startsWith(`${api.emulator.issuerUrl}/`), `on the emulator: ${page.url()}`);
    await page.screenshot({ path: `${ARTIFACTS}items-api-login-page.png` });
    await page.getByRole('button', { name: /admin@example\.test/ }).click();
    await page.waitForURL(`${api.appUrl}/`);
    assert.equal(await page.locator('body').innerText(), '{"Hello":"World"}');

    await page.goto(`${api.appUrl}/items/420`);
    assert.equal(await page.locator('body').innerText(), '{"item_id":420,"q":null}');

    await page.goto(`${api.appUrl}/api/auth/logout`);
    await page.waitForURL(`${api.appUrl}/`);
    assert.equal(await page.locator('body').innerText(), '{"detail":"Not authenticated"}');
    await page.close();
  });
});
