import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fastifyCookie from '@fastify/cookie';
import { parseCookie } from 'cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { clearCookie, readCookie, setCookie } from '../src/cookies.js';
import fastifyKinde, { requireAuth } from '../src/index.js';

/**
 * The plugin reads its cookies without `@fastify/cookie` (src/cookies.ts): the value it reads must be
 * the value the `cookie` package (which `@fastify/cookie` uses) would give, for any header.
 */

/** A small deterministic generator, so a failure is reproducible. */
function generator(seed: number) {
  let state = seed >>> 0;
  return (n: number) => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state % n;
  };
}

describe('readCookie agrees with the cookie package', () => {
  const names = ['a', 'sid', 'kinde_session', '__Host-kinde_session', 'b c', ''];
  const check = (header: string) => {
    const all = parseCookie(header);
    for (const name of [...names, ...Object.keys(all)]) {
      assert.equal(
        readCookie(header, name),
        all[name],
        `${JSON.stringify(header)} / ${JSON.stringify(name)}`,
      );
    }
  };

  test('on hand-picked headers', () => {
    for (const header of [
      '',
      'a',
      'a=',
      '=1',
      'a=1',
      'a=1;a=2',
      ' a = 1 ; b=2',
      '\ta\t=\t1\t',
      'a=1;;;b=2',
      'x;y;a=3',
      'a;=;a=4',
      'sid=%41%42',
      'sid=%E0%A4%A',
      'sid="quoted"',
      'sid=a=b=c',
      'kinde_session=v.s; __Host-kinde_session=w.t',
      'xsid=1; sid=2',
      'sid',
      ';sid=5',
      'b c=6',
    ]) {
      check(header);
    }
  });

  test('on 20,000 generated headers', () => {
    const next = generator(15);
    const pieces = ['a', 'sid', 'kinde_session', '=', ';', ' ', '\t', '%', '%41', 'x', '"', 'b c', '; '];
    for (let i = 0; i < 20_000; i++) {
      let header = '';
      const length = next(14);
      for (let j = 0; j < length; j++) header += pieces[next(pieces.length)];
      check(header);
    }
  });

  test('a header of a megabyte of separators is read in one pass (no quadratic rescans)', () => {
    // Quadratic scanning of these would take many minutes; the test's time limit would stop it.
    for (const header of [
      `${';'.repeat(1 << 20)}sid=1`,
      `${'x;'.repeat(1 << 19)}sid=2`,
      `sid${'='.repeat(1 << 20)}`,
      `${'a=1;'.repeat(1 << 18)}sid=3`,
    ]) {
      assert.equal(readCookie(header, 'sid'), parseCookie(header).sid);
    }
  });
});

describe('setting cookies', () => {
  const apps: FastifyInstance[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });
  const base = { path: '/', httpOnly: true, sameSite: 'lax', secure: true } as const;

  test('a cookie set twice in one reply is sent once, the last value; other Set-Cookie lines stay', async () => {
    const app = Fastify();
    apps.push(app);
    app.get('/', (_request, reply) => {
      reply.header('set-cookie', 'theirs=1; Path=/');
      setCookie(reply, 'ours', 'first', base);
      setCookie(reply, 'other', 'x', { ...base, maxAge: 60 });
      setCookie(reply, 'ours', 'second', base);
      return 'ok';
    });
    const lines = (await app.inject('/')).headers['set-cookie'];
    assert.deepEqual(lines, [
      'theirs=1; Path=/',
      'other=x; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Lax',
      'ours=second; Path=/; HttpOnly; Secure; SameSite=Lax',
    ]);
  });

  test('a cleared cookie expires at once, with the same path and domain', async () => {
    const app = Fastify();
    apps.push(app);
    app.get('/', (_request, reply) => {
      clearCookie(reply, 'ours', { ...base, domain: 'example.test' });
      return 'ok';
    });
    assert.equal(
      (await app.inject('/')).headers['set-cookie'],
      'ours=; Max-Age=0; Domain=example.test; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    );
  });

  test('an invalid name or value is refused before it reaches a header', async () => {
    const app = Fastify();
    apps.push(app);
    app.get('/', (_request, reply) => {
      setCookie(reply, 'bad name', 'x', base);
      return 'ok';
    });
    assert.equal((await app.inject('/')).statusCode, 500, 'a programming error of the caller, not input');
  });
});

describe('with @fastify/cookie registered by the app', () => {
  test('request.cookies and reply.setCookie keep working next to the plugin, and sign-in works', async () => {
    const directory = defaultDirectory();
    const application = directory.applications[0]!;
    const emulator = await startEmulator({ port: 0, headlessLogin: true, directory });
    const app = Fastify();
    try {
      await app.register(fastifyCookie);
      await app.register(fastifyKinde, {
        issuerUrl: emulator.issuerUrl,
        clientId: application.clientId,
        clientSecret: application.clientSecret,
        siteUrl: 'http://localhost:3000',
        sessionSecret: 'cookie-read-test-secret-0123456789abcdef',
        sessionStore: 'memory',
        env: {},
      });
      app.addHook('onSend', async (_request, reply) => {
        reply.setCookie('app_theme', 'dark', { path: '/' });
      });
      app.get('/me', { onRequest: requireAuth() }, (request) => ({
        id: request.kinde.getUser()?.id,
        theme: request.cookies.app_theme ?? null,
      }));
      await app.ready();
      const login = await app.inject({ url: '/api/auth/login?login_hint=admin%40example.test' });
      assert.equal(login.statusCode, 302);
      const names = login.cookies.map((c) => c.name);
      assert.ok(names.includes('app_theme') && names.some((n) => n.startsWith('kinde_login_')), names.join());
      const auth = await fetch(login.headers.location as string, { redirect: 'manual' });
      const back = new URL(auth.headers.get('location') ?? '');
      const callback = await app.inject({
        url: `${back.pathname}${back.search}`,
        headers: { cookie: login.cookies.map((c) => `${c.name}=${c.value}`).join('; ') },
      });
      assert.equal(callback.statusCode, 302, callback.body);
      const session = callback.cookies.find((c) => c.name === 'kinde_session');
      assert.ok(session, 'the session cookie is set next to the app cookie');
      const me = await app.inject({
        url: '/me',
        headers: { cookie: `app_theme=light; kinde_session=${session.value}` },
      });
      assert.equal(me.statusCode, 200);
      assert.deepEqual(me.json(), { id: 'kp_0123456789abcdef0123456789abcdef', theme: 'light' });
    } finally {
      await app.close();
      await emulator.close();
    }
  });

  test('without it, the plugin adds no cookie hooks and no request.cookies', async () => {
    const app = Fastify();
    await app.register(fastifyKinde, {
      issuerUrl: 'https://acme.kinde.com',
      clientId: 'id',
      siteUrl: 'http://localhost:3000',
      sessionStore: 'memory',
      env: {},
    });
    await app.ready();
    assert.equal(app.hasRequestDecorator('cookies'), false);
    assert.equal(app.hasReplyDecorator('setCookie'), false);
    await app.close();
  });
});
