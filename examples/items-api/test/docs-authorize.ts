import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/**
 * In /docs as a person: Authorize (authorization code with PKCE, as the docs client), pick
 * admin@example.test on the emulator's page, then call GET /items/420 with "Try it out" and read
 * the answer. Screenshots go to `artifacts` with `name` in their file names.
 */
export async function authorizeAndCallFromDocs(
  page: Page,
  urls: { appUrl: string; issuerUrl: string },
  artifacts: string,
  name: string,
): Promise<void> {
  try {
    await page.goto(`${urls.appUrl}/docs`);
    await page.getByRole('button', { name: 'Authorize' }).first().click();
    const oauth = page.locator('.auth-container').filter({ hasText: 'kindeOAuth2' });
    const apply = oauth.locator('button[aria-label="Apply given OAuth2 credentials"]');
    await apply.waitFor({ timeout: 10_000 });
    assert.equal(await oauth.locator('#client_id_authorizationCode').inputValue(), 'items_api_docs');
    await page.screenshot({ path: `${artifacts}${name}-docs-authorize.png` });
    const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: 10_000 }), apply.click()]);
    await popup.waitForLoadState();
    assert.ok(popup.url().startsWith(`${urls.issuerUrl}/oauth2/auth`), popup.url());
    assert.match(popup.url(), /[?&]client_id=items_api_docs&/);
    assert.match(popup.url(), /code_challenge_method=S256/);
    await popup.getByRole('button', { name: /admin@example\.test/ }).click({ timeout: 10_000 });
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
    await body.waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${artifacts}${name}-docs-called.png`, fullPage: true });
    assert.deepEqual(JSON.parse(await body.innerText()), { item_id: 420, q: null });
    const status = await operation
      .locator('.live-responses-table tbody .response-col_status')
      .first()
      .innerText();
    assert.equal(status.trim(), '200');
  } catch (error) {
    await page.screenshot({ path: `${artifacts}${name}-docs-failure.png`, fullPage: true }).catch(() => {});
    throw error;
  }
}
