import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { defaultDirectory, type Emulator, startEmulator } from 'kinde-emulator';
import { resolveConfig } from '../src/config.js';
import fastifyKinde, { type KindeOptions, memorySessionStore, requireAuth } from '../src/index.js';

/**
 * Item 8 of "Coming from Kinde's SDKs": `KINDE_COOKIE_DOMAIN` (a session shared with subdomains)
 * and Kinde's non-persistent sessions (`ksp.persistent: false`: a browser-session cookie), read on
 * the Set-Cookie headers of the real flow against the emulator.
 */

const SITE = 'https://app.example.test';
const SECRET = 'cookie-test-secret-0123456789abcdef0123';
const OLD_SECRET = 'cookie-test-old-secret-0123456789abcdef';

let emulator: Emulator;
before(async () => {
  const dir = defaultDirectory();
  const application = dir.applications[0]!;
  application.redirectUris = [`${SITE}/api/auth/kinde_callback`];
  application.logoutUris = [SITE];
  emulator = await startEmulator({ port: 0, headlessLogin: true, directory: dir });
});
after(() => emulator?.close());

const apps: FastifyInstance[] = [];
after(async () => {
  for (const app of apps) await app.close();
});

async function appWith(options: Partial<KindeOptions> = {}): Promise<FastifyInstance> {
  const application = emulator.directory.applications[0]!;
  const app = Fastify();
  apps.push(app);
  await app.register(fastifyKinde, {
    issuerUrl: emulator.issuerUrl,
    clientId: application.clientId,
    clientSecret: application.clientSecret,
    siteUrl: SITE,
    sessionSecret: SECRET,
    sessionStore: 'memory',
    env: {},
    ...options,
  });
  app.get('/me', { onRequest: requireAuth() }, (request) => ({ id: request.kinde.getUser()?.id }));
  await app.ready();
  return app;
}

const cookieHeader = (response: LightMyRequestResponse) =>
  response.cookies.map((c) => `${c.name}=${c.value}`).join('; ');

/** The real flow: the login route, the emulator's headless `/oauth2/auth`, the callback. */
async function signIn(app: FastifyInstance, email = 'admin@example.test') {
  const login = await app.inject({ url: `/api/auth/login?login_hint=${encodeURIComponent(email)}` });
  assert.equal(login.statusCode, 302, login.body);
  const auth = await fetch(login.headers.location as string, { redirect: 'manual' });
  const back = new URL(auth.headers.get('location') ?? '');
  assert.equal(back.origin, SITE);
  const callback = await app.inject({
    url: `${back.pathname}${back.search}`,
    headers: { cookie: cookieHeader(login) },
  });
  assert.equal(callback.statusCode, 302, callback.body);
  const session = callback.cookies.find((c) => /kinde_session$/.test(c.name));
  assert.ok(session, 'the callback sets the session cookie');
  return { login, callback, session, cookie: `${session.name}=${session.value}` };
}

function rawSessionLine(response: LightMyRequestResponse): string {
  const lines = [response.headers['set-cookie'] ?? []].flat() as string[];
  const line = lines.find((l) => /^(__Host-|__Secure-)?kinde_session=/.test(l));
  assert.ok(line, 'a Set-Cookie line for the session');
  return line;
}

describe('KINDE_COOKIE_DOMAIN', () => {
  test('without it: a host-only __Host- cookie, as before', async () => {
    const app = await appWith();
    const { session } = await signIn(app);
    assert.equal(session.name, '__Host-kinde_session');
    assert.equal(session.domain, undefined);
    assert.equal(session.path, '/');
  });

  test('with it: a __Secure- cookie for the domain and its subdomains that signs in, and logout clears it there', async () => {
    const app = await appWith({ cookieDomain: '.Example.test' });
    const { login, callback, session, cookie } = await signIn(app);
    assert.equal(session.name, '__Secure-kinde_session');
    assert.equal(session.domain, 'example.test');
    assert.equal(session.secure, true);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.maxAge, 604_800);
    assert.match(rawSessionLine(callback), /; Domain=example\.test/);
    // The login attempt cookies stay on the site's own host and the auth routes' folder.
    const attempts = login.cookies.filter((c) => c.name.startsWith('__Secure-kinde_login_'));
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]!.domain, undefined);
    assert.equal(attempts[0]!.path, '/api/auth');
    const me = await app.inject({ url: '/me', headers: { cookie } });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().id, 'kp_0123456789abcdef0123456789abcdef');
    const out = await app.inject({ url: '/api/auth/logout', headers: { cookie } });
    const cleared = out.cookies.find((c) => c.name === '__Secure-kinde_session');
    assert.ok(cleared, 'logout clears the session cookie');
    assert.equal(cleared.domain, 'example.test', 'cleared for the same domain it was set for');
    assert.equal((await app.inject({ url: '/me', headers: { cookie } })).statusCode, 401);
  });

  test('KINDE_COOKIE_DOMAIN is read from the environment', () => {
    const config = resolveConfig({
      env: {
        KINDE_ISSUER_URL: 'https://acme.kinde.com',
        KINDE_CLIENT_ID: 'id',
        KINDE_SITE_URL: 'https://app.example.com',
        KINDE_COOKIE_DOMAIN: 'example.com',
      },
    });
    assert.equal(config.cookieDomain, 'example.com');
  });

  const base = {
    issuerUrl: 'https://acme.kinde.com',
    clientId: 'id',
    siteUrl: 'https://app.example.com',
    env: {},
  };
  for (const [domain, problem] of [
    ['com', /must not be a public suffix/],
    ['co.uk', /must not be a public suffix/],
    ['github.io', /must not be a public suffix/],
    ['other.com', /must be the host of KINDE_SITE_URL \("app\.example\.com"\) or a parent domain/],
    ['pp.example.com', /must be the host of KINDE_SITE_URL/],
    ['xample.com', /must be the host of KINDE_SITE_URL/],
    ['https://example.com', /must be a domain name such as example\.com/],
    ['example.com:443', /must be a domain name/],
    ['*.example.com', /must be a domain name/],
    ['example.com.', /must be a domain name/],
    ['exa mple.com', /must be a domain name/],
    ['-example.com', /must be a domain name/],
  ] as const) {
    test(`"${domain}" is refused at start: ${problem.source}`, () => {
      assert.throws(
        () => resolveConfig({ ...base, cookieDomain: domain }),
        (error: Error & { code?: string }) => error.code === 'ERR_CONFIG' && problem.test(error.message),
      );
    });
  }

  test('an IP address, a non-string, and a site on an IP are refused; the exact host is accepted', () => {
    assert.throws(
      () => resolveConfig({ ...base, siteUrl: 'http://127.0.0.1:8000', cookieDomain: '127.0.0.1' }),
      /not an IP address/,
    );
    assert.throws(
      () => resolveConfig({ ...base, cookieDomain: 42 as unknown as string }),
      /must be a string/,
    );
    assert.throws(
      () => resolveConfig({ ...base, siteUrl: 'http://127.0.0.1:8000', cookieDomain: 'example.com' }),
      /must be the host of KINDE_SITE_URL \("127\.0\.0\.1"\)/,
    );
    assert.equal(resolveConfig({ ...base, cookieDomain: 'app.example.com' }).cookieDomain, 'app.example.com');
    assert.equal(resolveConfig({ ...base, cookieDomain: '  ' }).cookieDomain, undefined);
  });

  test('the plugin refuses to start with a bad domain', async () => {
    const app = Fastify();
    app.register(fastifyKinde, { ...base, cookieDomain: 'com' });
    await assert.rejects(
      async () => app.ready(),
      (error: Error & { code?: string }) => error.code === 'ERR_CONFIG',
    );
    await app.close();
  });
});

describe("Kinde's non-persistent sessions (ksp.persistent: false)", () => {
  before(() => {
    const clientId = emulator.directory.applications[0]!.clientId;
    emulator.control.mergeDirectory({ applications: [{ clientId, persistentSessions: false }] });
  });
  after(() => {
    const clientId = emulator.directory.applications[0]!.clientId;
    emulator.control.mergeDirectory({ applications: [{ clientId, persistentSessions: true }] });
  });

  test('the session cookie has no Max-Age nor Expires; the stored session still times out', async () => {
    const store = memorySessionStore();
    const app = await appWith({ sessionStore: store, idleTimeout: 600, absoluteTimeout: 3_600 });
    const { callback, session, cookie } = await signIn(app);
    const line = rawSessionLine(callback);
    assert.doesNotMatch(line, /max-age|expires/i, line);
    assert.equal(session.maxAge, undefined);
    const me = await app.inject({ url: '/me', headers: { cookie } });
    assert.equal(me.statusCode, 200);
    const id = session.value.slice(0, session.value.lastIndexOf('.'));
    const entry = await store.get(`sess:${id}`);
    assert.ok(entry, 'the session is stored');
    const left = entry.expiresAt - Date.now();
    assert.ok(left > 0 && left <= 600_000, `the store keeps it for the idle timeout (${left} ms left)`);
  });

  test('a cookie signed again after a secret rotation stays a browser-session cookie', async () => {
    const store = memorySessionStore();
    const old = await appWith({ sessionStore: store, sessionSecret: OLD_SECRET });
    const { cookie } = await signIn(old);
    const rotated = await appWith({ sessionStore: store, sessionSecret: [SECRET, OLD_SECRET] });
    const me = await rotated.inject({ url: '/me', headers: { cookie } });
    assert.equal(me.statusCode, 200);
    const line = rawSessionLine(me);
    assert.doesNotMatch(line, /max-age|expires/i, line);
  });

  test('a persistent session keeps Max-Age when signed again', async () => {
    const clientId = emulator.directory.applications[0]!.clientId;
    emulator.control.mergeDirectory({ applications: [{ clientId, persistentSessions: true }] });
    try {
      const store = memorySessionStore();
      const old = await appWith({ sessionStore: store, sessionSecret: OLD_SECRET });
      const { cookie } = await signIn(old);
      const rotated = await appWith({ sessionStore: store, sessionSecret: [SECRET, OLD_SECRET] });
      const me = await rotated.inject({ url: '/me', headers: { cookie } });
      assert.match(rawSessionLine(me), /Max-Age=604800/);
    } finally {
      emulator.control.mergeDirectory({ applications: [{ clientId, persistentSessions: false }] });
    }
  });
});
