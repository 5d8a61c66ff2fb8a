import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { artifactsDir, chromiumMissing, launchChromium } from 'test-kit';
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
    try {
      await page.goto(`${api.appUrl}/docs`);
      await page.getByRole('button', { name: 'Authorize' }).first().click();
      const oauth = page.locator('.auth-container').filter({ hasText: 'kindeOAuth2' });
      const apply = oauth.locator('button[aria-label="Apply given OAuth2 credentials"]');
      await apply.waitFor();
      assert.equal(await oauth.locator('#client_id_authorizationCode').inputValue(), 'items_api_docs');
      await page.screenshot({ path: `${ARTIFACTS}items-api-docs-authorize.png` });
      const [popup] = await Promise.all([page.waitForEvent('popup'), apply.click()]);
      await popup.waitForLoadState();
      assert.ok(popup.url().startsWith(`${api.emulator.issuerUrl}/oauth2/auth`), popup.url());
      assert.match(popup.url(), /code_challenge_method=S256/);
      await popup.getByRole('button', { name: /admin@example\.test/ }).click();
      await oauth.locator('button', { hasText: 'Logout' }).waitFor({ timeout: 10_000 });
      await oauth.locator('button', { hasText: 'Close' }).click();

      const operation = page.locator('.opblock').filter({ hasText: '/items/{item_id}' });
      await operation.locator('.opblock-summary').click();
      await operation.getByRole('button', { name: 'Try it out' }).click();
      await operation.locator('input[placeholder="item_id"]').fill('420');
      await operation.getByRole('button', { name: 'Execute' }).click();
      const body = operation
        .locator('.responses-wrapper .live-responses-table .response-col_description pre')
        .first();
      await body.waitFor();
      await page.screenshot({ path: `${ARTIFACTS}items-api-docs-called.png`, fullPage: true });
      assert.deepEqual(JSON.parse(await body.innerText()), { item_id: 420, q: null });
      const status = await operation
        .locator('.live-responses-table tbody .response-col_status')
        .first()
        .innerText();
      assert.equal(status.trim(), '200');
    } catch (error) {
      await page.screenshot({ path: `${ARTIFACTS}items-api-docs-failure.png`, fullPage: true });
      throw error;
    } finally {
      await page.close();
    }
  });
});
