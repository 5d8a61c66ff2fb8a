import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { artifactsDir, chromiumMissing, launchChromium } from 'test-kit';
import { DEFAULT_CLIENT_ID, type Emulator, startEmulator } from '../src/index.js';

// A kinde-auth-react app with the SDK's default settings, bundled with esbuild (no CDN), served from
// its own origin on 127.0.0.1: the emulator is a "custom domain" to js-utils, so the refresh token
// lives only in memory and a reload relies on the emulator's refresh cookie.
const skip = chromiumMissing;
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const APP_SOURCE = `
import React from 'react';
import { createRoot } from 'react-dom/client';
import { KindeProvider, useKindeAuth } from '@kinde-oss/kinde-auth-react';
const h = React.createElement;
function App() {
  const { isAuthenticated, isLoading, user, login, logout, getPermissions } = useKindeAuth();
  const [perms, setPerms] = React.useState('');
  React.useEffect(() => {
    if (isAuthenticated) getPermissions().then((p) => setPerms(p.orgCode + ': ' + p.permissions.join(',')));
  }, [isAuthenticated]);
  if (isLoading) return h('p', { id: 'status' }, 'loading');
  return h('main', null,
    h('p', { id: 'status' }, isAuthenticated ? 'signed in as ' + (user && user.email) : 'signed out'),
    h('p', { id: 'perms' }, perms),
    h('button', { onClick: () => login() }, 'Sign in'),
    h('button', { onClick: () => logout() }, 'Sign out'));
}
const c = window.KINDE;
createRoot(document.getElementById('root')).render(
  h(KindeProvider, { clientId: c.clientId, domain: c.domain, redirectUri: c.app + '/callback', logoutUri: c.app + '/bye' }, h(App)));
`;

let emu: Emulator;
let server: Server;
let appUrl: string;
let browser: Browser;
let ARTIFACTS = '';

before(async () => {
  if (skip) return;
  ARTIFACTS = artifactsDir('kinde-emulator');
  emu = await startEmulator({});
  const bundle = await build({
    stdin: { contents: APP_SOURCE, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]?.text ?? '';
  server = createServer((req, res) => {
    if (req.url === '/app.js') {
      res.setHeader('content-type', 'text/javascript');
      return res.end(js);
    }
    const config = JSON.stringify({ clientId: DEFAULT_CLIENT_ID, domain: emu.issuerUrl, app: appUrl });
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(
      `<!doctype html><html lang="en"><title>React app</title><div id="root"></div>` +
        `<script>window.KINDE=${config}</script><script src="/app.js"></script></html>`,
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  appUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await launchChromium();
});

after(async () => {
  if (skip) return;
  await browser?.close();
  server?.close();
  await emu?.close();
});

async function status(page: Page, text: string | RegExp): Promise<void> {
  await page.locator('#status', { hasText: text }).waitFor({ timeout: 15_000 });
}

function refreshes(): { status?: number | undefined }[] {
  return emu.requests.filter((r) => r.grantType === 'refresh_token');
}

test('kinde-auth-react stays signed in across a reload, and logout ends it', { skip }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  try {
    await page.goto(appUrl);
    await status(page, 'signed out');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: /Uma User/ }).click();
    await status(page, 'signed in as user@example.test');
    const cookies = await context.cookies(`${emu.issuerUrl}/oauth2/token`);
    const rt = cookies.find((c) => c.name === `kinde_emu_rt_${DEFAULT_CLIENT_ID}`);
    assert.equal(rt?.httpOnly, true);
    assert.equal(rt?.path, '/oauth2/token');
    // The marker is readable by the page (js-utils reads document.cookie); the refresh token is not.
    const visible = await page.evaluate<string>('document.cookie');
    assert.match(visible, /(^|; )_kbrte=1/);
    assert.doesNotMatch(visible, /kinde_emu_rt_/);

    const before = refreshes().length;
    await page.reload();
    await status(page, 'signed in as user@example.test');
    // The access token from the cookie refresh is what the SDK reads claims from.
    await page.locator('#perms', { hasText: 'org_0000000001: read:items' }).waitFor({ timeout: 15_000 });
    const after = refreshes().slice(before);
    assert.ok(after.length >= 1, 'the reload refreshed by cookie');
    assert.ok(
      after.every((r) => r.status === 200),
      JSON.stringify(after),
    );
    await page.screenshot({ path: `${ARTIFACTS}react-after-reload.png` });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${appUrl}/**`);
    await status(page, 'signed out');
    await page.reload();
    await status(page, 'signed out');
    assert.doesNotMatch(await page.evaluate<string>('document.cookie'), /_kbrte/);
    const left = (await context.cookies(`${emu.issuerUrl}/oauth2/token`)).map((c) => c.name);
    assert.ok(!left.includes(`kinde_emu_rt_${DEFAULT_CLIENT_ID}`), left.join(','));
  } catch (err) {
    // What the SDK said in the browser explains most failures.
    (err as Error).message += `\nbrowser console:\n${logs.join('\n')}\nurl: ${page.url()}`;
    throw err;
  } finally {
    await context.close();
  }
});
