import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generatePortalUrl, MemoryStorage, StorageKeys, setActiveStorage } from '@kinde/js-utils';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';

const STRICT = 'strict_client_000000000000000000000001';

describe('Account API portal link and the /portal page', () => {
  let emu: Emulator;
  before(async () => {
    const directory = defaultDirectory();
    directory.applications.push({
      name: 'Strict app',
      clientId: STRICT,
      clientSecret: 'S3cretS3cretS3cretS3cretS3cretS3cretS3cret01',
      grants: ['authorization_code', 'refresh_token'],
      redirectUris: ['https://app.example/api/auth/kinde_callback'],
      logoutUris: ['https://app.example/'],
      allowLoopbackRedirects: false,
    });
    emu = await startEmulator({ port: 0, directory });
  });
  after(() => emu.close());

  const userToken = async (clientId?: string) =>
    (await emu.control.issueTokens({ user: 'admin@example.test', ...(clientId && { clientId }) }))
      .access_token;

  async function portalLink(query: Record<string, string>, token?: string) {
    const url = new URL(`${emu.issuerUrl}/account_api/v1/portal_link`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  test('js-utils generatePortalUrl gets a link; the page shows the section and links back to return_url', async () => {
    const storage = new MemoryStorage();
    setActiveStorage(storage);
    await storage.setSessionItem(StorageKeys.accessToken, await userToken());
    const { url } = await generatePortalUrl({
      domain: emu.issuerUrl,
      returnUrl: 'http://127.0.0.1:3999/settings',
      // PortalPage.organizationMembers (an ambient enum, so spelled as its value here).
      subNav: 'organization_members' as Parameters<typeof generatePortalUrl>[0]['subNav'],
    });
    assert.equal(url.origin, emu.issuerUrl);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /data-subnav="organization_members">Organization members</);
    assert.match(html, /<a id="return" href="http:\/\/127\.0\.0\.1:3999\/settings">/);
  });

  test('without subnav the profile section opens (js-utils default); without return_url no link back', async () => {
    const link = await portalLink({}, await userToken());
    assert.equal(link.status, 200);
    const html = await (await fetch(String(link.body.url))).text();
    assert.match(html, /data-subnav="profile"/);
    assert.doesNotMatch(html, /id="return"/);
  });

  test('an unknown subnav is 400 and lists the sections', async () => {
    const link = await portalLink({ subnav: 'billing' }, await userToken());
    assert.equal(link.status, 400);
    const [error] = link.body.errors as { code: string; message: string }[];
    assert.equal(error?.code, 'INVALID_REQUEST');
    assert.match(
      error?.message ?? '',
      /subnav must be one of organization_details, .*profile; got "billing"/,
    );
  });

  test("return_url must be an allowed callback or logout URL of the token's application", async () => {
    const token = await userToken(STRICT);
    for (const allowed of ['https://app.example/', 'https://app.example/api/auth/kinde_callback']) {
      assert.equal((await portalLink({ return_url: allowed }, token)).status, 200, allowed);
    }
    for (const refused of [
      'https://evil.example/',
      'https://app.example/other',
      'http://127.0.0.1:3999/',
      'javascript:alert(1)',
    ]) {
      const link = await portalLink({ return_url: refused }, token);
      assert.equal(link.status, 400, refused);
      assert.match(JSON.stringify(link.body), /not an allowed callback or logout URL/);
    }
  });

  test('the page escapes what it shows', async () => {
    const link = await portalLink({ return_url: 'http://127.0.0.1:3999/a"b<c>' }, await userToken());
    const html = await (await fetch(String(link.body.url))).text();
    assert.ok(!html.includes('a"b<c>'));
    assert.match(html, /href="http:\/\/127\.0\.0\.1:3999\/a&#34;b&#60;c&#62;"/);
  });

  test('bad tokens are refused: none, garbage, another signature, a machine token', async () => {
    assert.equal((await portalLink({})).status, 401);
    assert.equal((await portalLink({}, 'not-a-token')).status, 401);
    const real = await userToken();
    const [h, p] = real.split('.');
    assert.equal((await portalLink({}, `${h}.${p}.${'A'.repeat(342)}`)).status, 401);
    assert.equal((await portalLink({}, await emu.control.issueM2mToken())).status, 401);
  });

  test('a portal link that is unknown, missing or older than 5 minutes shows an error page', async () => {
    assert.equal((await fetch(`${emu.issuerUrl}/portal`)).status, 404);
    assert.equal((await fetch(`${emu.issuerUrl}/portal?link=nope`)).status, 404);
    const link = await portalLink({}, await userToken());
    emu.control.advanceClock(301);
    try {
      assert.equal((await fetch(String(link.body.url))).status, 404);
    } finally {
      emu.control.advanceClock(-301);
    }
  });

  test('failure injection: account_api down answers 503', async () => {
    emu.control.failEndpoint('account_api', { mode: 'down', count: 1 });
    assert.equal((await portalLink({}, await userToken())).status, 503);
    assert.equal((await portalLink({}, await userToken())).status, 200);
  });
});
