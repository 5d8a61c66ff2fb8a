import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { artifactsDir, chromiumMissing, launchChromium } from 'test-kit';
import { authorizeAndCallFromDocs } from './docs-authorize.js';
import { type Running, startItemsApi } from './harness.js';

const ARTIFACTS = artifactsDir();

describe('a person in Chromium: the login pages and the docs', {
  skip: chromiumMissing,
}, () => {
  let api: Running;
  let browser: Browser;
  before(async () => {
    api = await startItemsApi();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await api?.close();
  });

  test('login on the emulator page, read {"Hello":"World"}, log out', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000); // a broken flow fails in seconds, not 30
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

  test('Authorize with PKCE through the emulator, then call /items/420 from the docs', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000); // a broken flow fails in seconds, not 30
    try {
      await authorizeAndCallFromDocs(
        page,
        { appUrl: api.appUrl, issuerUrl: api.emulator.issuerUrl },
        ARTIFACTS,
        'items-api',
      );
    } finally {
      await page.close();
    }
  });
});
