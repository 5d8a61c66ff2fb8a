// Guards and the auth routes' error paths, through app.inject(): the network is not the subject here
// (flow.test.ts and browser.test.ts keep the real sockets and the real browser). Tokens and sessions
// are real: the testing kit's in-process emulator signs them, and the plugin verifies them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import fastifyKinde, {
  KindeAuthError,
  memorySessionStore,
  requireAuth,
  requireFlag,
  requireKinde,
  requireOrg,
  requirePermission,
  requireRole,
  type SessionStore,
} from '../src/index.js';
import { startKindeTest, testClock } from '../src/testing/index.js';

const kit = await startKindeTest({ after });
const NOT_AUTHENTICATED = { detail: 'Not authenticated' };

function routes(app: FastifyInstance): void {
  app.get('/any', { onRequest: requireAuth() }, () => ({ ok: true }));
  app.get('/session-only', { onRequest: requireKinde({ auth: 'session' }) }, () => ({ ok: true }));
  app.get('/bearer-only', { onRequest: requireKinde({ auth: 'bearer' }) }, () => ({ ok: true }));
  app.get('/delete', { onRequest: requirePermission('delete:items') }, () => ({ ok: true }));
  app.get('/some', { onRequest: requirePermission(['a:x', 'b:x'], { any: true }) }, () => ({ ok: true }));
  app.get('/auditor', { onRequest: requireRole('auditor') }, () => ({ ok: true }));
  app.get('/beta', { onRequest: requireFlag('beta') }, () => ({ ok: true }));
  app.get('/acme', { onRequest: requireOrg('org_acme') }, () => ({ ok: true }));
  app.get('/in-org', { onRequest: requireOrg() }, () => ({ ok: true }));
  app.get('/declared', { config: { kinde: { roles: ['auditor'], org: 'org_acme' } } }, () => ({ ok: true }));
}

describe('guards (app.inject, real tokens)', () => {
  let app: FastifyInstance;
  const clock = testClock();
  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ url, headers });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  before(async () => {
    app = Fastify();
    await app.register(fastifyKinde, kit.options({ clock }));
    routes(app);
  });
  after(() => app.close());

  test('anonymous: 401 with the exact body; the challenge names Bearer unless the route takes sessions only', async () => {
    for (const [url, challenge] of [
      ['/any', 'Bearer'],
      ['/bearer-only', 'Bearer'],
      ['/session-only', undefined],
      ['/delete', 'Bearer'],
      ['/declared', 'Bearer'],
    ] as const) {
      const answer = await get(url);
      assert.equal(answer.statusCode, 401, url);
      assert.equal(answer.body, JSON.stringify(NOT_AUTHENTICATED), url);
      assert.equal(answer.headers['www-authenticate'], challenge, url);
    }
  });

  test('a malformed or forged bearer token: 401 invalid_token saying why, never a 500', async () => {
    const token = await kit.bearerFor({ email: 'admin@example.test' });
    for (const [value, why] of [
      ['not-a-jwt', /malformed/],
      [`${token.slice(0, -4)}AAAA`, /signature/],
    ] as const) {
      const answer = await get('/any', bearer(value));
      assert.equal(answer.statusCode, 401);
      assert.deepEqual(answer.json(), NOT_AUTHENTICATED);
      const challenge = String(answer.headers['www-authenticate']);
      assert.match(challenge, /^Bearer error="invalid_token", error_description="/);
      assert.match(challenge, why);
    }
  });

  test('auth modes: a session on a bearer-only route and a bearer on a session-only route are refused', async () => {
    const cookie = await kit.signIn(app, { email: 'user@example.test' });
    const token = await kit.bearerFor({ email: 'user@example.test' });
    assert.equal((await get('/any', { cookie })).statusCode, 200);
    assert.equal((await get('/any', bearer(token))).statusCode, 200);
    assert.equal((await get('/session-only', { cookie })).statusCode, 200);
    assert.equal((await get('/bearer-only', bearer(token))).statusCode, 200);

    const sessionOnBearer = await get('/bearer-only', { cookie });
    assert.equal(sessionOnBearer.statusCode, 401);
    assert.equal(
      sessionOnBearer.headers['www-authenticate'],
      'Bearer error="invalid_token", error_description="this route takes a bearer token, not a session"',
    );
    const bearerOnSession = await get('/session-only', bearer(token));
    assert.equal(bearerOnSession.statusCode, 401);
    assert.deepEqual(bearerOnSession.json(), NOT_AUTHENTICATED);
    assert.equal(bearerOnSession.headers['www-authenticate'], undefined);
  });

  test('each requirement answers 403 naming what is missing; a bearer caller also gets insufficient_scope', async () => {
    const cookie = await kit.signIn(app, { permissions: ['read:items'] });
    const token = await kit.bearerFor({ permissions: ['read:items'] });
    const cases: [string, string][] = [
      ['/delete', 'Missing permission: delete:items'],
      ['/some', 'Missing permission: one of a:x, b:x'],
      ['/auditor', 'Missing role: auditor'],
      ['/beta', 'Missing feature flag: beta'],
      ['/acme', 'Missing organization: org_acme'],
      ['/declared', 'Missing role: auditor'],
    ];
    for (const [url, detail] of cases) {
      const bySession = await get(url, { cookie });
      assert.equal(bySession.statusCode, 403, url);
      assert.deepEqual(bySession.json(), { detail }, url);
      assert.equal(bySession.headers['www-authenticate'], undefined, url);
      const byBearer = await get(url, bearer(token));
      assert.equal(byBearer.statusCode, 403, url);
      assert.deepEqual(byBearer.json(), { detail }, url);
      assert.equal(
        byBearer.headers['www-authenticate'],
        `Bearer error="insufficient_scope", error_description="${detail}"`,
        url,
      );
    }
  });

  test('the grants asked for pass, by session and by bearer', async () => {
    const grants = {
      permissions: ['delete:items', 'b:x'],
      roles: ['auditor'],
      flags: { beta: true },
      org: 'org_acme',
    };
    const cookie = await kit.signIn(app, grants);
    const token = await kit.bearerFor(grants);
    for (const url of ['/delete', '/some', '/auditor', '/beta', '/acme', '/in-org', '/declared']) {
      assert.equal((await get(url, { cookie })).statusCode, 200, `session ${url}`);
      assert.equal((await get(url, bearer(token))).statusCode, 200, `bearer ${url}`);
    }
  });

  test('a bearer token past its exp (the clock moved, not waited for): 401 "the token has expired"', async () => {
    const token = await kit.bearerFor({ email: 'admin@example.test' });
    assert.equal((await get('/any', bearer(token))).statusCode, 200);
    const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };
    // Past exp and the 5 s tolerance: the verified-token cache must not keep serving it either.
    clock.advance(exp * 1000 - clock.now() + 6_000);
    try {
      const answer = await get('/any', bearer(token));
      assert.equal(answer.statusCode, 401);
      assert.equal(
        answer.headers['www-authenticate'],
        'Bearer error="invalid_token", error_description="the token has expired"',
      );
    } finally {
      clock.advance(-clock.offsetMs);
    }
  });
});

describe('a store that cannot answer: 503 from the guard, never a 401 or a 500', () => {
  test('a session request while the store is down', async () => {
    const inner = memorySessionStore();
    let down = false;
    const store: SessionStore = {
      get: (id) => {
        if (down) throw new KindeAuthError('ERR_STORE_UNAVAILABLE', 'The session store is unavailable');
        return inner.get(id);
      },
      set: (id, value, ttlMs) => inner.set(id, value, ttlMs),
      touch: (id, ttlMs) => inner.touch(id, ttlMs),
      delete: (id) => inner.delete(id),
    };
    const app = Fastify();
    await app.register(fastifyKinde, kit.options({ sessionStore: store }));
    routes(app);
    try {
      const cookie = await kit.signIn(app, { email: 'user@example.test' });
      assert.equal((await app.inject({ url: '/any', headers: { cookie } })).statusCode, 200);
      down = true;
      const answer = await app.inject({ url: '/any', headers: { cookie } });
      assert.equal(answer.statusCode, 503);
      assert.deepEqual(answer.json(), { detail: 'Session store unavailable' });
    } finally {
      await app.close();
    }
  });
});

describe('the auth routes’ error paths (app.inject)', () => {
  let app: FastifyInstance;
  const clock = testClock();
  const json = { accept: 'application/json' };
  before(async () => {
    app = Fastify();
    await app.register(fastifyKinde, kit.options({ clock }));
    routes(app);
  });
  after(() => app.close());

  /** Starts a login; answers the attempt's state and its cookie. */
  async function begin(): Promise<{ state: string; cookie: string }> {
    const login = await app.inject({ url: '/api/auth/login' });
    assert.equal(login.statusCode, 302);
    const state = new URL(String(login.headers.location)).searchParams.get('state')!;
    const [cookie] = [login.headers['set-cookie']].flat();
    return { state, cookie: String(cookie).split(';')[0]! };
  }
  const callback = (query: string, headers: Record<string, string> = {}) =>
    app.inject({ url: `/api/auth/kinde_callback?${query}`, headers });
  const noSession = (answer: LightMyRequestResponse) =>
    [answer.headers['set-cookie']].flat().every((c) => !String(c).includes('kinde_session='));

  test('a callback without a state: 400 ERR_STATE_MISMATCH, no session', async () => {
    const answer = await callback('code=abc', json);
    assert.equal(answer.statusCode, 400);
    assert.equal(answer.json().code, 'ERR_STATE_MISMATCH');
    assert.match(answer.json().detail, /carries no state/);
    assert.ok(noSession(answer));
  });

  test('a state no login of this browser started: 400 ERR_STATE_MISSING; the page lists the likely causes', async () => {
    const asJson = await callback('code=abc&state=unknown', json);
    assert.equal(asJson.statusCode, 400);
    assert.equal(asJson.json().code, 'ERR_STATE_MISSING');
    const page = await callback('code=abc&state=unknown', { accept: 'text/html' });
    assert.equal(page.statusCode, 400);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body, /localhost and 127\.0\.0\.1/);
    assert.equal(page.headers['cache-control'], 'no-store');
  });

  test('a state that does not match the attempt cookie: 400 ERR_STATE_MISMATCH', async () => {
    const { state, cookie } = await begin();
    const [name, value] = cookie.split('=') as [string, string];
    const other = await begin();
    // The first attempt's cookie sent under the name of the second attempt's state.
    const answer = await callback(`code=abc&state=${other.state}`, {
      ...json,
      cookie: `${other.cookie.split('=')[0]}=${value}`,
    });
    assert.equal(answer.statusCode, 400);
    assert.equal(answer.json().code, 'ERR_STATE_MISMATCH');
    assert.ok(noSession(answer));
    assert.ok(name.startsWith('kinde_login_') && state !== other.state);
  });

  test('the provider reports an error: 400 ERR_PROVIDER_ERROR naming it, the attempt is used up', async () => {
    const { state, cookie } = await begin();
    const query = `error=access_denied&error_description=User+said+no&state=${state}`;
    const answer = await callback(query, { ...json, cookie });
    assert.equal(answer.statusCode, 400);
    assert.deepEqual(answer.json(), {
      detail: 'The identity provider reported: access_denied (User said no)',
      code: 'ERR_PROVIDER_ERROR',
    });
    const again = await callback(`code=abc&state=${state}`, { ...json, cookie });
    assert.equal(again.json().code, 'ERR_LOGIN_EXPIRED', 'an attempt is taken once');
  });

  test('an attempt older than 10 minutes (the clock moved): 400 ERR_LOGIN_EXPIRED', async () => {
    const { state, cookie } = await begin();
    clock.advance(10 * 60_000 + 1_000);
    try {
      const answer = await callback(`code=abc&state=${state}`, { ...json, cookie });
      assert.equal(answer.statusCode, 400);
      assert.equal(answer.json().code, 'ERR_LOGIN_EXPIRED');
      assert.ok(noSession(answer));
    } finally {
      clock.advance(-clock.offsetMs);
    }
  });

  test('a code the provider does not know: 400 ERR_CODE_EXCHANGE, no session', async () => {
    const { state, cookie } = await begin();
    const answer = await callback(`code=not-a-code&state=${state}`, { ...json, cookie });
    assert.equal(answer.statusCode, 400);
    assert.equal(answer.json().code, 'ERR_CODE_EXCHANGE');
    assert.ok(noSession(answer));
  });

  test('a returnTo longer than 2,048 characters: a clear 400 before anything starts', async () => {
    const answer = await app.inject({ url: `/api/auth/login?returnTo=/${'a'.repeat(2048)}`, headers: json });
    assert.equal(answer.statusCode, 400);
    assert.match(answer.body, /returnTo/);
    assert.equal(answer.headers.location, undefined);
  });
});
