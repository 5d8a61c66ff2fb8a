import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpClient } from 'test-kit';
import { safeReturnTo } from '../src/return-to.js';
import { type Rig, startRig } from './setup.js';

const HOME = '/home';
const ADMIN = 'admin@example.test';

/**
 * `returnTo` values and where the callback must send the browser (`HOME`: the post-login default).
 * `SITE` stands for the app's origin, filled in per run (its port is random).
 */
const FORMS: readonly (readonly [string, string])[] = [
  // Same-origin paths are kept, in the form URL resolution gives them.
  ['/items/1', '/items/1'],
  ['/items/1?q=a&b=c#top', '/items/1?q=a&b=c#top'],
  ['SITE/items/2', '/items/2'],
  ['//SITEHOST/items/3', '/items/3'],
  ['/a/../items', '/items'],
  ['/%2e%2e/items', '/items'],
  ['items/4', '/items/4'],
  ['/a b/ü', '/a%20b/%C3%BC'],
  ['/@evil.example', '/@evil.example'],
  ['/%2f%2fevil.example', '/%2f%2fevil.example'],
  ['%2F%2Fevil.example', '/%2F%2Fevil.example'],
  ['/%5Cevil.example', '/%5Cevil.example'],
  ['/%252e%252e//evil.example', '/%252e%252e//evil.example'],
  ['/%09/evil.example', '/%09/evil.example'],
  ['/%0d%0aSet-Cookie:x=1', '/%0d%0aSet-Cookie:x=1'],
  ['http:evil.example', '/evil.example'],
  // Everything that would leave the site, or is not a path, lands on the default.
  ['', HOME],
  ['//evil.example', HOME],
  ['///evil.example', HOME],
  ['//evil%2eexample/x', HOME],
  ['/\\evil.example', HOME],
  ['\\\\evil.example', HOME],
  ['\\/evil.example', HOME],
  ['/a/..//evil.example', HOME],
  ['/..//evil.example', HOME],
  ['/.//evil.example', HOME],
  ['/%2e%2e//evil.example', HOME],
  ['/%2E%2E//evil.example', HOME],
  ['/.%2e//evil.example', HOME],
  ['/a/%2e%2e//evil.example', HOME],
  ['/a/..\\/evil.example', HOME],
  ['/a/%2e%2e/\\evil.example', HOME],
  ['/\t/evil.example', HOME],
  ['/\n/evil.example', HOME],
  ['\r\n//evil.example', HOME],
  [' //evil.example', HOME],
  ['/a\u0000', HOME],
  ['/\u2028/evil.example', HOME],
  ['/a\u0085', HOME],
  ['https://evil.example/', HOME],
  ['http://evil.example', HOME],
  ['HTTPS://EVIL.EXAMPLE', HOME],
  ['https:evil.example', HOME],
  ['http:\\\\evil.example', HOME],
  ['SITE@evil.example/', HOME],
  ['http://evil.example@SITEHOST/x', HOME],
  ['http://SITEHOSTNAME:1/x', HOME],
  ['javascript:alert(1)', HOME],
  ['JaVaScRiPt:alert(document.cookie)//', HOME],
  ['data:text/html,<script>alert(1)</script>', HOME],
  ['ftp://SITEHOST/x', HOME],
  [`/${'é'.repeat(400)}`, HOME],
];

function fill(form: string, site: URL): string {
  return form
    .replaceAll('SITEHOSTNAME', site.hostname)
    .replaceAll('SITEHOST', site.host)
    .replaceAll('SITE', site.origin);
}

describe('safeReturnTo: the value that reaches Location stays on the site', () => {
  const site = new URL('http://127.0.0.1:8000');
  test(`${FORMS.length} forms land where URL resolution puts them, or on the default`, () => {
    assert.ok(FORMS.length >= 30);
    for (const [form, expected] of FORMS) {
      const value = fill(form, site);
      const result = safeReturnTo(value, HOME, site);
      assert.equal(result, expected, JSON.stringify(value));
      // What the browser does with Location: it must stay on this origin.
      assert.equal(new URL(result, site).origin, site.origin, JSON.stringify(value));
    }
  });

  test('a site URL with a path still only accepts paths of its origin', () => {
    const nested = new URL('https://app.example/base/');
    assert.equal(safeReturnTo('items/1', HOME, nested), '/base/items/1');
    assert.equal(safeReturnTo('/..//evil.example', HOME, nested), HOME);
    assert.equal(
      safeReturnTo('http://app.example/x', HOME, nested),
      HOME,
      'another scheme is another origin',
    );
  });
});

/** Logs in through `route` with `returnTo` and answers the callback's raw `Location` header. */
async function callbackLocation(rig: Rig, route: string, returnTo: string): Promise<string> {
  const client = new HttpClient();
  const query = new URLSearchParams({ returnTo, login_hint: ADMIN });
  if (route.endsWith('create_org')) query.set('org_name', 'Redirect Test');
  const start = await client.request(`${rig.appUrl}${route}?${query}`);
  assert.equal(start.status, 302, `${route} answered ${start.status}: ${start.body}`);
  assert.ok(start.location?.startsWith(rig.emulator.issuerUrl), 'on to the provider');
  const provider = await client.request(start.location!);
  assert.equal(provider.status, 302, 'the headless emulator signs the hinted user in at once');
  assert.match(provider.location ?? '', /\/api\/auth\/kinde_callback\?/);
  const callback = await client.request(provider.location!);
  assert.equal(callback.status, 302, callback.body);
  assert.equal((await client.request(`${rig.appUrl}/`)).status, 200, 'the login worked');
  return callback.headers.get('location') ?? '';
}

describe('returnTo through real logins: the callback redirects only within the site', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({ emulator: { headlessLogin: true }, kinde: { postLoginRedirectUrl: HOME } });
  });
  after(() => rig.close());

  for (const route of ['/api/auth/login', '/api/auth/register', '/api/auth/create_org']) {
    test(`${route}: every form lands on this site`, async () => {
      const site = new URL(rig.appUrl);
      for (const [form, expected] of FORMS) {
        const value = fill(form, site);
        const location = await callbackLocation(rig, route, value);
        assert.equal(location, expected, `${route} returnTo=${JSON.stringify(value)}`);
        assert.equal(new URL(location, site).origin, site.origin);
      }
    });
  }

  test('a returnTo longer than 2,048 characters is a clear 400 before anything starts', async () => {
    const answer = await fetch(`${rig.appUrl}/api/auth/login?returnTo=/${'a'.repeat(2048)}`, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
    });
    assert.equal(answer.status, 400);
    assert.match(await answer.text(), /returnTo/);
  });
});
