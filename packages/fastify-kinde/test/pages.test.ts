import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import type { Browser } from 'playwright-core';
import { chromiumMissing, HttpClient, launchChromium, pickUser } from 'test-kit';
import fastifyKinde, { requireAuth } from '../src/index.js';
import { isPublicRoute, routeProtection } from '../src/protect.js';
import { type Rig, SECRET, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const PAGE = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const NAVIGATE = { ...PAGE, 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' };
const WAIT = { timeout: 10_000 };

/**
 * Where a signed-out request goes: the status, Location (absolute) and body. Through `inject`:
 * Node's fetch always sends `Sec-Fetch-Mode: cors`, which is what a script's fetch looks like, so it
 * cannot play a browser's navigation (Chromium does, below). `_client` keeps the call sites honest
 * about which requests carry no cookie.
 */
async function ask(_client: HttpClient, url: string, init: RequestInit = {}) {
  const target = new URL(url);
  const rig = rigs.find((r) => r.appUrl === target.origin)!;
  const answer = await rig.app.inject({
    method: (init.method ?? 'GET') as 'GET',
    url: `${target.pathname}${target.search}`,
    headers: (init.headers ?? {}) as Record<string, string>,
  });
  const location = answer.headers.location;
  return {
    status: answer.statusCode,
    location: typeof location === 'string' ? new URL(location, target).href : null,
    body: answer.body,
  };
}

const rigs: Rig[] = [];

function loginWith(rig: Rig, returnTo: string): string {
  return `${rig.appUrl}/api/auth/login?${new URLSearchParams({ returnTo })}`;
}

describe('requireAuth({ redirect: true }): pages go to login and come back; APIs keep the 401', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({
      routes: (app) => {
        app.get('/page', { onRequest: requireAuth({ redirect: true }) }, (req) => ({ page: req.url }));
        app.get('/declared-page', { config: { kinde: { redirect: true } } }, () => ({ declared: true }));
        app.post('/page', { onRequest: requireAuth({ redirect: true }) }, () => ({ posted: true }));
        app.get('/machines', { onRequest: requireAuth({ auth: 'bearer', redirect: true }) }, () => ({}));
      },
    });
    rigs.push(rig);
  });
  after(() => rig.close());

  test('a signed-out browser GET of a page is sent to login with the page as returnTo', async () => {
    const client = new HttpClient();
    for (const path of ['/page', '/page?q=a%20b&x=1', '/declared-page']) {
      const answer = await ask(client, `${rig.appUrl}${path}`, { headers: NAVIGATE });
      assert.equal(answer.status, 302, path);
      assert.equal(answer.location, loginWith(rig, path));
    }
    const head = await ask(client, `${rig.appUrl}/page`, { method: 'HEAD', headers: PAGE });
    assert.equal(head.status, 302, 'HEAD is a page request too');
  });

  test('API callers keep the 401 JSON: JSON accept, fetch/XHR, bearer, non-GET, bearer-only routes', async () => {
    const client = new HttpClient();
    const cases: [string, RequestInit][] = [
      ['/page', { headers: { accept: 'application/json' } }],
      ['/page', { headers: { accept: '*/*' } }],
      ['/page', {}],
      ['/page', { headers: { ...PAGE, 'sec-fetch-mode': 'cors' } }],
      ['/page', { headers: { ...PAGE, 'x-requested-with': 'XMLHttpRequest' } }],
      ['/page', { headers: { ...PAGE, authorization: 'Bearer not-a-token' } }],
      ['/page', { method: 'POST', headers: PAGE }],
      ['/machines', { headers: NAVIGATE }],
    ];
    for (const [path, init] of cases) {
      const answer = await ask(client, `${rig.appUrl}${path}`, init);
      assert.equal(answer.status, 401, `${path} ${JSON.stringify(init)}`);
      assert.deepEqual(JSON.parse(answer.body), { detail: 'Not authenticated' });
    }
  });

  test('the round trip: page → login → emulator → callback → the same page, signed in', async () => {
    const client = new HttpClient();
    const first = await ask(client, `${rig.appUrl}/page?from=test`, { headers: NAVIGATE });
    const hops = await client.follow(first.location!);
    const loginPage = hops.at(-1)!;
    assert.equal(loginPage.status, 200, 'the emulator shows its login page');
    const back = await pickUser(client, loginPage, ADMIN);
    assert.equal(back.at(-1)!.url, `${rig.appUrl}/page?from=test`);
    assert.deepEqual(JSON.parse(back.at(-1)!.body), { page: '/page?from=test' });
  });

  test('redirect must be a boolean', () => {
    assert.throws(
      () => requireAuth({ redirect: 'yes' as unknown as boolean }),
      /"redirect" must be true or false/,
    );
  });

  test('a page URL too long to carry goes to login with its path only', async () => {
    const long = `/page?q=${'a'.repeat(2100)}`;
    const answer = await ask(new HttpClient(), `${rig.appUrl}${long}`, { headers: NAVIGATE });
    assert.equal(answer.status, 302);
    assert.equal(answer.location, loginWith(rig, '/page'));
  });
});

describe('protect: every route needs a login except the public paths', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({
      kinde: { protect: { publicPaths: ['/', '/health', '/static/*'] } },
      routes: (app) => {
        app.get('/health', () => ({ ok: true }));
        app.get('/healthcare', () => ({ private: true }));
        app.get('/static/*', (req) => ({ file: (req.params as Record<string, string>)['*'] }));
        app.get('/private', () => ({ private: true }));
        app.get('/Health', () => ({ private: true }));
        app.get('/opted-out', { config: { kinde: false } }, () => ({ open: true }));
        app.get('/items/:id', (req) => ({ item: (req.params as { id: string }).id }));
      },
    });
    rigs.push(rig);
  });
  after(() => rig.close());

  test('public routes answer anyone (the root route keeps its own guard)', async () => {
    const client = new HttpClient();
    assert.equal((await ask(client, `${rig.appUrl}/health`)).status, 200);
    assert.equal((await ask(client, `${rig.appUrl}/health?x=1`)).status, 200);
    assert.equal((await ask(client, `${rig.appUrl}/static/app.css`)).status, 200);
    assert.equal((await ask(client, `${rig.appUrl}/static/a/b.js`)).status, 200);
    assert.equal((await ask(client, `${rig.appUrl}/opted-out`)).status, 200);
    // `/` is public for protect, but the rig's `/` route has requireAuth() of its own.
    assert.equal((await ask(client, `${rig.appUrl}/`)).status, 401);
  });

  test('other routes need a login: pages are redirected, APIs get 401', async () => {
    const client = new HttpClient();
    for (const path of ['/private', '/healthcare', '/Health', '/items/1', '/whoami']) {
      assert.equal((await ask(client, `${rig.appUrl}${path}`)).status, 401, path);
      const page = await ask(client, `${rig.appUrl}${path}`, { headers: NAVIGATE });
      assert.equal(page.status, 302, path);
      assert.equal(page.location, loginWith(rig, path));
    }
  });

  test('paths dressed up as public ones reach the route they match, which stays guarded', async () => {
    const client = new HttpClient();
    const tricks = [
      '/static/../private',
      '/static/%2e%2e/private',
      '/health/../private',
      '/health%2f..%2fprivate',
      '/private?/health',
      '/private#/health',
      '/PRIVATE',
      '/private/',
      '//private',
      '/./private',
      '/%70rivate',
      '/nope',
      '/health/../../private',
    ];
    for (const path of tricks) {
      const answer = await ask(client, `${rig.appUrl}${path}`);
      // Either the public wildcard answers (it serves its own subtree) or the request is refused:
      // never the private route's body.
      assert.doesNotMatch(answer.body, /"private":true/, path);
      if (answer.status === 200) assert.match(answer.body, /"file"/, path);
      else assert.ok([401, 404].includes(answer.status), `${path}: ${answer.status}`);
    }
    // A path no route answers is a plain 404: there is nothing behind it to guard.
    assert.equal((await ask(client, `${rig.appUrl}/no-such-route`)).status, 404);
  });

  test('the auth routes stay open, and a login through them works and opens the private routes', async () => {
    const client = new HttpClient();
    const start = await client.request(loginWith(rig, '/private'));
    assert.equal(start.status, 302);
    const page = await client.follow(start.location!);
    const back = await pickUser(client, page.at(-1)!, ADMIN);
    assert.equal(back.at(-1)!.url, `${rig.appUrl}/private`);
    assert.equal(back.at(-1)!.status, 200);
    assert.equal((await client.request(`${rig.appUrl}/items/7`)).status, 200);
    const out = await client.request(`${rig.appUrl}/api/auth/logout`, {
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(out.status, 302, 'logout is open');
  });

  test('the guard is attached to each protected route once (a HEAD route copies the GET one’s hooks)', () => {
    const protection = routeProtection({ publicPaths: ['/open'], redirect: true }, ['/api/auth/login']);
    const route = { url: '/x', method: 'GET', config: {}, handler: () => {} } as never as Parameters<
      typeof protection.attach
    >[0];
    protection.attach(route);
    const head = { ...route, method: 'HEAD' } as typeof route;
    protection.attach(head);
    assert.equal((head.onRequest as unknown[]).length, 1);
    const open = { url: '/open', method: 'GET', handler: () => {} } as never as typeof route;
    protection.attach(open);
    assert.equal(open.onRequest, undefined, 'a public route costs nothing per request');
  });

  test('isPublicRoute: exact paths and folders by segment, nothing by prefix', () => {
    const list = ['/', '/health', '/static/*'];
    assert.equal(isPublicRoute('/', list), true);
    assert.equal(isPublicRoute('/health', list), true);
    assert.equal(isPublicRoute('/healthz', list), false);
    assert.equal(isPublicRoute('/static', list), true);
    assert.equal(isPublicRoute('/static/*', list), true);
    assert.equal(isPublicRoute('/static/:file', list), true);
    assert.equal(isPublicRoute('/staticky', list), false);
    assert.equal(isPublicRoute('/items', list), false);
  });
});

describe('protect: bad options and routes it cannot reach', () => {
  const base = {
    issuerUrl: 'http://127.0.0.1:9',
    clientId: 'c',
    siteUrl: 'http://127.0.0.1:8000',
    sessionSecret: SECRET,
    sessionStore: 'memory' as const,
    env: {},
  };

  for (const bad of ['/static/', 'health', '/a/../b', '/%2e%2e/x', '/a?b', '/a/*/b', '/a*', '/./x', '', 42]) {
    test(`publicPaths entry ${JSON.stringify(bad)} is refused at registration`, async () => {
      const app = Fastify();
      await assert.rejects(async () => {
        await app.register(fastifyKinde, { ...base, protect: { publicPaths: [bad as string] } });
        await app.ready();
      }, /protect\.publicPaths/);
      await app.close();
    });
  }

  test('protect.redirect must be a boolean; publicPaths a list', async () => {
    for (const protect of [{ redirect: 'no' }, { publicPaths: '/health' }]) {
      const app = Fastify();
      await assert.rejects(async () => {
        await app.register(fastifyKinde, { ...base, protect: protect as never });
        await app.ready();
      }, /protect/);
      await app.close();
    }
  });

  test('a route in a context made before the plugin cannot be guarded: the app refuses to start', async () => {
    const app = Fastify();
    await app.register(async (scope) => {
      scope.get('/early', () => ({ leaked: true }));
    });
    await app.register(fastifyKinde, { ...base, protect: { publicPaths: [] } });
    await assert.rejects(async () => {
      await app.ready();
    }, /"protect" cannot guard route GET \/early/);
    await app.close().catch(() => {});
  });

  test('the per-request form (an instance not watched from its creation) guards the same routes', async () => {
    const app = Fastify();
    await app.register(fastifyKinde, { ...base });
    const protection = routeProtection({ publicPaths: ['/open/*'], redirect: true }, ['/api/auth/login']);
    app.addHook('onRequest', protection.hook);
    app.get('/open/:x', () => ({ open: true }));
    app.get('/closed', () => ({ leaked: true }));
    app.get('/declared', { config: { kinde: false } }, () => ({ open: true }));
    assert.equal((await app.inject({ url: '/open/1' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/open/1' })).statusCode, 200, 'the cached decision');
    assert.equal((await app.inject({ url: '/declared' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/closed' })).statusCode, 401);
    const page = await app.inject({ url: '/closed?a=1', headers: NAVIGATE });
    assert.equal(page.headers.location, '/api/auth/login?returnTo=%2Fclosed%3Fa%3D1');
    assert.equal(
      (await app.inject({ url: '/api/auth/login', headers: { accept: 'application/json' } })).statusCode,
      503,
    );
    await app.close();
  });

  test('a route declared before the plugin on the same instance is guarded', async () => {
    const app = Fastify();
    app.get('/before', () => ({ leaked: true }));
    await app.register(fastifyKinde, { ...base, protect: { publicPaths: [] } });
    app.get('/after', () => ({ leaked: true }));
    for (const url of ['/before', '/after']) {
      const answer = await app.inject({ url });
      assert.equal(answer.statusCode, 401, url);
    }
    await app.close();
  });
});

describe('Chromium: a signed-out visit to a protected page logs in and comes back to it', {
  skip: chromiumMissing,
}, () => {
  let rig: Rig;
  let browser: Browser;
  before(async () => {
    rig = await startRig({
      kinde: { protect: { publicPaths: ['/welcome'] } },
      routes: (app) => {
        app.get('/welcome', (_req, reply) =>
          reply.type('text/html').send('<!doctype html><a id="go" href="/reports/42?tab=summary">Report</a>'),
        );
        app.get('/reports/:id', (req, reply) =>
          reply
            .type('text/html')
            .send(
              `<!doctype html><p id="who">${req.kinde.getUser()?.email} report ${(req.params as { id: string }).id}</p>`,
            ),
        );
      },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await rig?.close();
  });

  test('click → login page → pick a user → the report page with its query', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${rig.appUrl}/welcome`);
      await page.click('#go');
      await page.waitForURL(`${rig.emulator.issuerUrl}/**`, WAIT);
      await page.getByRole('button', { name: /admin@example\.test/ }).click();
      await page.waitForURL(`${rig.appUrl}/reports/42?tab=summary`, WAIT);
      assert.equal(await page.locator('#who').innerText(), 'admin@example.test report 42');
      // A script's fetch of the same page, signed out, gets the 401 rather than a redirect.
      const other = await browser.newContext();
      const anon = await other.newPage();
      await anon.goto(`${rig.appUrl}/welcome`);
      const status = await anon.evaluate(
        async () => (await fetch('/reports/1', { redirect: 'manual' })).status,
      );
      assert.equal(status, 401);
      await other.close();
    } finally {
      await context.close();
    }
  });
});
