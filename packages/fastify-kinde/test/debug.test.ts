import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { defaultDirectory, type startEmulator } from 'kinde-emulator';
import { freePort, HttpClient } from 'test-kit';
import fastifyKinde, {
  memorySessionStore,
  requireAuth,
  requirePermission,
  type SessionStore,
} from '../src/index.js';
import type { SessionRecord } from '../src/session/record.js';
import { SECRET, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const USER = 'user@example.test';
const application = defaultDirectory().applications[0]!;

interface LogLine {
  msg: string;
  level: number;
  kindeDebug?: { step: string; [fact: string]: unknown };
}

/** An app whose pino logger writes to `lines` (a destination stream), wired to a running emulator. */
async function appWithLog(
  emulator: Awaited<ReturnType<typeof startEmulator>>,
  debug: boolean | undefined,
  env: Record<string, string> = {},
  sessionStore: SessionStore | 'memory' = 'memory',
): Promise<{ app: FastifyInstance; url: string; lines: string[] }> {
  const lines: string[] = [];
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = Fastify({
    logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } },
  });
  await app.register(fastifyKinde, {
    issuerUrl: emulator.issuerUrl,
    clientId: application.clientId,
    clientSecret: application.clientSecret,
    siteUrl: url,
    sessionSecret: SECRET,
    sessionStore,
    env,
    ...(debug !== undefined && { debug }),
  });
  app.get('/', { onRequest: requireAuth() }, () => ({ ok: true }));
  app.get('/admin', { onRequest: requirePermission('delete:items') }, () => ({ ok: true }));
  await app.listen({ port, host: '127.0.0.1' });
  return { app, url, lines };
}

const parsed = (lines: string[]): LogLine[] => lines.map((l) => JSON.parse(l) as LogLine);
const debugLines = (lines: string[]) => parsed(lines).filter((l) => l.kindeDebug !== undefined);

describe('debug mode (KINDE_DEBUG_MODE): decisions in the log, never a secret', () => {
  let emulatorRig: Awaited<ReturnType<typeof startRig>>;
  before(async () => {
    // A rig only for its emulator (and the app it brings is harmless).
    emulatorRig = await startRig({ emulator: { headlessLogin: true } });
  });
  after(() => emulatorRig.close());

  test('a real login and its failures are explained; no secret, token, code or cookie value is logged', {
    timeout: 30_000,
  }, async () => {
    const emulator = emulatorRig.emulator;
    const { app, url, lines } = await appWithLog(emulator, undefined, { KINDE_DEBUG_MODE: 'true' });
    const secrets: string[] = [application.clientSecret!, SECRET];
    const remember = (value: string | null | undefined) => {
      if (value) secrets.push(value);
    };
    try {
      const storeRecord = async (cookie: string) =>
        (await app.kinde.store.get(`sess:${cookie.slice(0, cookie.lastIndexOf('.'))}`))?.value as
          | SessionRecord
          | undefined;

      // Anonymous, no cookie; then a guard's 401.
      assert.equal((await fetch(`${url}/`)).status, 401);

      // A real login: the code and state of the callback must stay out of the log.
      const client = new HttpClient();
      const returnTo = encodeURIComponent('/admin?resume=one-time-789');
      const hops = await client.follow(`${url}/api/auth/login?login_hint=${USER}&returnTo=${returnTo}`);
      const callback = new URL(hops.find((h) => h.url.includes('/api/auth/kinde_callback?'))!.url);
      remember(callback.searchParams.get('code'));
      remember(callback.searchParams.get('state'));
      const cookie = client.cookies(url).get('kinde_session')!;
      remember(cookie);
      remember(cookie.slice(0, cookie.lastIndexOf('.')));
      const record = (await storeRecord(cookie))!;
      remember(record.accessToken);
      remember(record.refreshToken);
      remember(record.idToken);
      // The user lacks delete:items: the guard's 403 is explained.
      assert.equal(hops.at(-1)?.status, 403);

      // A forged cookie, a garbage bearer token.
      assert.equal((await fetch(`${url}/`, { headers: { cookie: `kinde_session=${cookie}x` } })).status, 401);
      assert.equal((await fetch(`${url}/`, { headers: { authorization: 'Bearer a.b.c' } })).status, 401);

      // A refresh: the stored access token is made due, the next request renews it.
      const id = cookie.slice(0, cookie.lastIndexOf('.'));
      const entry = await app.kinde.store.get(`sess:${id}`);
      await app.kinde.store.set(
        `sess:${id}`,
        { ...(entry!.value as SessionRecord), accessExpiresAt: 0 },
        60_000,
      );
      assert.equal((await client.request(`${url}/`)).status, 200);
      const renewed = (await storeRecord(cookie))!;
      remember(renewed.accessToken);
      remember(renewed.refreshToken);
      remember(renewed.idToken);

      // A refresh the provider refuses (its family revoked there): the session ends, and why is said.
      await fetch(`${emulator.issuerUrl}/oauth2/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token: renewed.refreshToken!,
          client_id: application.clientId,
          client_secret: application.clientSecret!,
        }),
      });
      await app.kinde.store.set(`sess:${id}`, { ...renewed, accessExpiresAt: 0 }, 60_000);
      assert.equal((await client.request(`${url}/`)).status, 401);

      // Log in again and out; the old cookie then names no session.
      const again = new HttpClient();
      await again.follow(`${url}/api/auth/login?login_hint=${ADMIN}`);
      const second = again.cookies(url).get('kinde_session')!;
      remember(second);
      const secondRecord = (await storeRecord(second))!;
      remember(secondRecord.accessToken);
      remember(secondRecord.refreshToken);
      // The provider down when a refresh is due: 503, and why.
      const secondId = second.slice(0, second.lastIndexOf('.'));
      emulator.control.failEndpoint('token', { mode: 'down' });
      try {
        await app.kinde.store.set(`sess:${secondId}`, { ...secondRecord, accessExpiresAt: 0 }, 60_000);
        assert.equal((await again.request(`${url}/`)).status, 503);
        // Due (within seconds of expiry) but still valid: served with the current token meanwhile.
        await app.kinde.store.set(
          `sess:${secondId}`,
          { ...secondRecord, accessExpiresAt: Date.now() + 3_000 },
          60_000,
        );
        assert.equal((await again.request(`${url}/`)).status, 200);
      } finally {
        emulator.control.clearFailures();
        await app.kinde.store.set(`sess:${secondId}`, secondRecord, 60_000);
      }
      await again.request(`${url}/api/auth/logout`, { headers: { 'sec-fetch-site': 'same-origin' } });
      assert.equal((await fetch(`${url}/`, { headers: { cookie: `kinde_session=${second}` } })).status, 401);

      // A session past its absolute lifetime.
      const third = new HttpClient();
      await third.follow(`${url}/api/auth/login?login_hint=${USER}`);
      const thirdCookie = third.cookies(url).get('kinde_session')!;
      remember(thirdCookie);
      const thirdRecord = (await storeRecord(thirdCookie))!;
      remember(thirdRecord.accessToken);
      remember(thirdRecord.refreshToken);
      const thirdId = thirdCookie.slice(0, thirdCookie.lastIndexOf('.'));
      await app.kinde.store.set(`sess:${thirdId}`, { ...thirdRecord, createdAt: 0 }, 60_000);
      assert.equal((await third.request(`${url}/`)).status, 401);

      // A callback with no attempt cookie: refused, and why.
      const stray = await fetch(`${url}/api/auth/kinde_callback?code=stray-code-123&state=stray-state-456`, {
        headers: { accept: 'application/json' },
      });
      assert.equal(stray.status, 400);
      remember('stray-code-123');
      remember('stray-state-456');

      const all = lines.join('\n');
      for (const secret of secrets) {
        assert.ok(!all.includes(secret), `the log holds a secret value (${secret.slice(0, 8)}…)`);
      }
      const explained = debugLines(lines);
      // A query an app puts in returnTo may hold a one-time token: debug lines show the path only.
      // (Fastify's own request lines log URLs; those are the app's to configure.)
      assert.ok(!JSON.stringify(explained).includes('one-time-789'));
      assert.ok(explained.some((l) => l.kindeDebug?.returnTo === '/admin?…'));
      const said = (step: string, pattern: RegExp) =>
        assert.ok(
          explained.some((l) => l.kindeDebug?.step === step && pattern.test(l.msg)),
          `no ${step} line matching ${pattern}:\n${explained.map((l) => `${l.kindeDebug?.step}: ${l.msg}`).join('\n')}`,
        );
      said('session', /anonymous: no session cookie and no bearer token/);
      said('guard', /guard refused with 401: the caller is anonymous/);
      said('login', /login started/);
      said('callback', /callback accepted: state matched/);
      said('guard', /guard refused with 403: Missing permission: delete:items/);
      said('session', /signed in through the session cookie/);
      said('session', /anonymous: the session cookie signature is invalid/);
      said('bearer', /the bearer token was refused/);
      said('refresh', /renewed at the provider/);
      said('session', /anonymous: the provider refused to renew/);
      said('logout', /signed out: session deleted/);
      said('session', /anonymous: the session cookie names no stored session/);
      said('callback', /the callback was refused/);
      said('refresh', /the provider could not be reached to renew it: guarded routes answer 503/);
      said('guard', /guard refused with 503/);
      said('refresh', /served with the current token meanwhile/);
      said('session', /anonymous: the session passed its absolute lifetime/);
      const loggedOut = explained.find((l) => l.kindeDebug?.step === 'logout');
      assert.equal(loggedOut?.kindeDebug?.outcome, 'revoked');
      const forbidden = explained.find((l) => l.kindeDebug?.step === 'guard' && l.kindeDebug.status === 403);
      assert.deepEqual(forbidden?.kindeDebug?.required, { permissions: ['delete:items'] });
      // The callback route logs at warn (its URL holds the code), yet its debug lines are written,
      // with the request id, through the app's logger.
      assert.ok(explained.find((l) => l.kindeDebug?.step === 'callback' && /accepted/.test(l.msg)));
    } finally {
      await app.close();
    }
  });

  test('off (the default, or KINDE_DEBUG_MODE=false): not one debug line', { timeout: 20_000 }, async () => {
    for (const [debug, env] of [
      [undefined, {}],
      [undefined, { KINDE_DEBUG_MODE: 'false' }],
      [false, { KINDE_DEBUG_MODE: 'true' }],
    ] as const) {
      const { app, url, lines } = await appWithLog(emulatorRig.emulator, debug, env);
      try {
        assert.equal((await fetch(`${url}/`)).status, 401);
        const client = new HttpClient();
        await client.follow(`${url}/api/auth/login?login_hint=${USER}`);
        assert.equal((await client.request(`${url}/admin`)).status, 403);
        assert.equal(debugLines(lines).length, 0, JSON.stringify(env));
      } finally {
        await app.close();
      }
    }
  });

  test('a session store that fails: the hook, the guard and the portal say 503, and why', {
    timeout: 20_000,
  }, async () => {
    const inner = memorySessionStore();
    let broken = false;
    const store: SessionStore = {
      get: (id) => {
        if (broken) throw Object.assign(new Error('connection lost'), { code: 'ERR_STORE_UNAVAILABLE' });
        return inner.get(id);
      },
      set: (id, value, ttl) => inner.set(id, value, ttl),
      touch: (id, ttl) => inner.touch(id, ttl),
      delete: (id) => inner.delete(id),
    };
    const { app, url, lines } = await appWithLog(emulatorRig.emulator, true, {}, store);
    try {
      const client = new HttpClient();
      await client.follow(`${url}/api/auth/login?login_hint=${USER}`);
      broken = true;
      assert.equal((await client.request(`${url}/`)).status, 503);
      const portal = await client.request(`${url}/api/auth/portal`, {
        headers: { accept: 'application/json' },
      });
      assert.equal(portal.status, 503);
      assert.equal(JSON.parse(portal.body).code, 'ERR_STORE_UNAVAILABLE');
      const explained = debugLines(lines);
      assert.ok(explained.some((l) => /the session store failed: guarded routes answer 503/.test(l.msg)));
      assert.ok(
        explained.some((l) => /guard refused with 503: the session store is unavailable/.test(l.msg)),
      );
    } finally {
      broken = false;
      await app.close();
    }
  });
});
