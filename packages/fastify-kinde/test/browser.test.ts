import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactsDir, chromiumMissing, freePort, launchChromium } from 'test-kit';
import { type Rig, startRig } from './setup.js';

const ADMIN = /admin@example\.test/;
const WAIT = { timeout: 10_000 };

/** Another site: `localhost` is a different site from the app's `127.0.0.1` to the browser. */
async function startOtherSite(appUrl: string): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify();
  const page = (body: string) => `<!doctype html><html><body>${body}</body></html>`;
  app.get('/link', (_req, reply) =>
    reply.type('text/html').send(page(`<a id="go" href="${appUrl}/api/auth/logout">Sign out of the app</a>`)),
  );
  app.get('/form', (_req, reply) =>
    reply
      .type('text/html')
      .send(
        page(
          `<form id="f" method="post" action="${appUrl}/api/auth/logout"><button id="go">Go</button></form>`,
        ),
      ),
  );
  app.get('/callback', (_req, reply) =>
    reply
      .type('text/html')
      .send(page(`<a id="go" href="${appUrl}/api/auth/kinde_callback?code=abc&state=made-up">Go</a>`)),
  );
  const port = await freePort();
  await app.listen({ port, host: '127.0.0.1' });
  return { app, url: `http://localhost:${port}` };
}

async function bodyOf(page: Page): Promise<string> {
  return page.locator('body').innerText();
}

describe('Chromium: parallel logins, and other sites cannot sign a user out', {
  skip: chromiumMissing,
}, () => {
  let rig: Rig;
  let other: Awaited<ReturnType<typeof startOtherSite>>;
  let browser: Browser;
  let context: BrowserContext;
  before(async () => {
    rig = await startRig();
    other = await startOtherSite(rig.appUrl);
    browser = await launchChromium();
    context = await browser.newContext();
    context.setDefaultTimeout(10_000); // a broken flow fails in seconds, not 30
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await other?.app.close();
    await rig?.close();
  });

  test('two tabs log in at once, with another site hitting the callback in between: both land', async () => {
    const tab1 = await context.newPage();
    const tab2 = await context.newPage();
    try {
      await tab1.goto(`${rig.appUrl}/api/auth/login?returnTo=%2Fwhoami%3Ftab%3D1`);
      await tab2.goto(`${rig.appUrl}/api/auth/login?returnTo=%2Fwhoami%3Ftab%3D2`);
      assert.ok(tab1.url().startsWith(rig.emulator.issuerUrl), tab1.url());
      assert.ok(tab2.url().startsWith(rig.emulator.issuerUrl), tab2.url());
      const stray = await context.newPage();
      await stray.goto(`${other.url}/callback`);
      await stray.click('#go');
      await stray.waitForURL(`${rig.appUrl}/api/auth/kinde_callback?**`, WAIT);
      assert.match(await bodyOf(stray), /no login cookie matches the state/);
      await stray.close();

      await tab2.getByRole('button', { name: ADMIN }).click();
      await tab2.waitForURL(`${rig.appUrl}/whoami?tab=2`, WAIT);
      await tab1.getByRole('button', { name: ADMIN }).click();
      await tab1.waitForURL(`${rig.appUrl}/whoami?tab=1`, WAIT);
      assert.equal(JSON.parse(await bodyOf(tab1)).kind, 'user');
      await tab2.reload();
      assert.equal(JSON.parse(await bodyOf(tab2)).kind, 'user');
    } catch (error) {
      await tab1.screenshot({ path: `${artifactsDir()}fastify-kinde-two-tabs.png` });
      throw error;
    } finally {
      await tab1.close();
      await tab2.close();
    }
  });

  test('a link or a form on another site does not sign out; the confirm page and a same-site POST do', async () => {
    const page = await context.newPage();
    try {
      await page.goto(`${rig.appUrl}/`);
      assert.equal(await bodyOf(page), '{"Hello":"World"}', 'signed in by the previous test');

      await page.goto(`${other.url}/link`);
      await page.click('#go');
      await page.waitForURL(`${rig.appUrl}/api/auth/logout`, WAIT);
      assert.match(await bodyOf(page), /Sign out now\?/);
      const confirm = page.url();

      await page.goto(`${other.url}/form`);
      await page.click('#go');
      await page.waitForURL(`${rig.appUrl}/api/auth/logout`, WAIT);
      assert.match(await bodyOf(page), /must be sent from this site/);

      await page.goto(`${rig.appUrl}/`);
      assert.equal(await bodyOf(page), '{"Hello":"World"}', 'still signed in');

      // The person chooses to sign out on the confirm page: a same-origin POST.
      await page.goto(`${other.url}/link`);
      await page.click('#go');
      await page.waitForURL(confirm, WAIT);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${rig.appUrl}/`, WAIT);
      assert.equal(await bodyOf(page), '{"detail":"Not authenticated"}');
    } catch (error) {
      await page.screenshot({ path: `${artifactsDir()}fastify-kinde-cross-site-logout.png` });
      throw error;
    } finally {
      await page.close();
    }
  });
});
