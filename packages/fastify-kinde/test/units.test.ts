import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveConfig } from '../src/config.js';
import { KindeAuthError } from '../src/errors.js';
import {
  type GuardRequirement,
  requireAuth,
  requireFlag,
  requireKinde,
  requireOrg,
  requirePermission,
  requireRole,
} from '../src/guards.js';
import { safeReturnTo } from '../src/routes.js';
import { memorySessionStore } from '../src/session/memory.js';
import { createCookieSigner } from '../src/session/signer.js';
import { testClock } from '../src/testing/clock.js';

const base = {
  KINDE_ISSUER_URL: 'https://acme.kinde.com',
  KINDE_CLIENT_ID: 'abc',
  KINDE_SITE_URL: 'http://127.0.0.1:8000',
};

function configError(env: Record<string, string>, options = {}): string {
  try {
    resolveConfig({ env, ...options });
  } catch (error) {
    assert.ok(error instanceof KindeAuthError);
    assert.equal(error.code, 'ERR_CONFIG');
    return error.message;
  }
  assert.fail('expected a configuration error');
}

describe('configuration', () => {
  test('reads KINDE_* variables and applies defaults', () => {
    const config = resolveConfig({
      env: { ...base, KINDE_AUDIENCE: 'api://a api://b', SESSION_SECRET: 's1,s2' },
    });
    assert.equal(config.issuerUrl, 'https://acme.kinde.com');
    assert.deepEqual(config.audience, ['api://a', 'api://b']);
    assert.equal(config.scope, 'openid profile email offline');
    assert.deepEqual(config.sessionSecrets, ['s1', 's2']);
    assert.equal(config.postLogoutRedirectUrl, 'http://127.0.0.1:8000');
    assert.equal(config.routes.callback, '/api/auth/kinde_callback');
    assert.equal(config.secureCookies, false);
    assert.equal(config.idleTimeoutMs, 86_400_000);
  });

  test('names the missing or malformed variable', () => {
    assert.match(configError({}), /KINDE_ISSUER_URL .* is required/);
    assert.match(
      configError({ ...base, KINDE_ISSUER_URL: 'acme' }),
      /KINDE_ISSUER_URL must be an absolute URL/,
    );
    assert.match(configError({ ...base, KINDE_CLIENT_ID: '' }), /KINDE_CLIENT_ID/);
    assert.match(
      configError({ ...base, KINDE_SITE_URL: 'ftp://x' }),
      /KINDE_SITE_URL must be an http\(s\) URL/,
    );
    assert.match(configError({ ...base, KINDE_SCOPE: 'profile' }), /KINDE_SCOPE .* must include "openid"/);
    assert.match(configError(base, { routes: { login: 'login' } }), /"routes.login" must be a path/);
  });

  test('production refuses a missing or short secret, and any http issuer or site (loopback included)', () => {
    const prod = { ...base, NODE_ENV: 'production', KINDE_SITE_URL: 'https://app.example' };
    assert.match(configError(prod), /SESSION_SECRET .* is required in production/);
    assert.match(configError({ ...prod, SESSION_SECRET: 'short' }), /at least 32 characters/);
    const secret = 'x'.repeat(32);
    for (const issuer of [
      'http://acme.example',
      'http://127.0.0.1:8001',
      'http://localhost:8001',
      'http://[::1]:8001',
    ]) {
      assert.match(
        configError({ ...prod, SESSION_SECRET: secret, KINDE_ISSUER_URL: issuer }),
        /^KINDE_ISSUER_URL \(option "issuerUrl"\) must use https in production/,
        issuer,
      );
    }
    for (const site of ['http://app.example', 'http://127.0.0.1:8000']) {
      assert.match(
        configError({ ...prod, SESSION_SECRET: secret, KINDE_SITE_URL: site }),
        /^KINDE_SITE_URL \(option "siteUrl"\) must use https in production/,
        site,
      );
    }
    assert.match(
      configError({ ...prod, SESSION_SECRET: secret }, { siteUrl: 'http://app.example' }),
      /KINDE_SITE_URL \(option "siteUrl"\)/,
    );
    assert.doesNotThrow(() => resolveConfig({ env: { ...prod, SESSION_SECRET: secret } }));
    // Outside production, http stays allowed (the emulator, local development).
    assert.doesNotThrow(() => resolveConfig({ env: { ...base, KINDE_ISSUER_URL: 'http://127.0.0.1:8001' } }));
  });

  test('without SESSION_SECRET (NODE_ENV unset) the app logs one warning that names the consequences', async () => {
    const { default: Fastify } = await import('fastify');
    const { default: fastifyKinde } = await import('../src/index.js');
    const started = async (env: Record<string, string>) => {
      const lines: { level: number; msg: string }[] = [];
      const app = Fastify({
        logger: { level: 'info', stream: { write: (l: string) => lines.push(JSON.parse(l)) } },
      });
      await app.register(fastifyKinde, { env, sessionStore: 'memory' });
      await app.ready();
      await app.close();
      return lines.filter((l) => l.level === 40 && /SESSION_SECRET/.test(l.msg));
    };
    const warnings = await started(base);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /not survive a restart, nor work across instances/);
    assert.equal((await started({ ...base, SESSION_SECRET: 'y'.repeat(32) })).length, 0);
  });

  test('an https site gets Secure cookies', () => {
    assert.equal(
      resolveConfig({ env: { ...base, KINDE_SITE_URL: 'https://app.example' } }).secureCookies,
      true,
    );
  });

  test('"clock": the system clock by default (Date.now itself), else its now(); a clock without now() is refused', () => {
    assert.equal(resolveConfig({ env: base }).now, Date.now);
    const clock = testClock();
    clock.advance(60_000);
    const moved = resolveConfig({ env: base, clock }).now();
    assert.ok(moved >= Date.now() + 59_000 && moved <= Date.now() + 60_000);
    for (const bad of [{}, { now: 5 }, null]) {
      assert.match(configError(base, { clock: bad }), /"clock" must be an object with a now\(\) method/);
    }
  });
});

describe('returnTo', () => {
  const site = new URL('http://127.0.0.1:8000');
  test('keeps same-site relative paths', () => {
    assert.equal(safeReturnTo(undefined, '/', site), '/');
    assert.equal(safeReturnTo('/items/1?q=a#x', '/', site), '/items/1?q=a#x');
  });
  test('lands anything that could leave the site on the fallback (it used to throw: issue 10)', () => {
    for (const bad of ['//evil', '/\\evil', 'https://evil', '/a\nb', '/a\u0000', '\\\\evil', '/\t/evil']) {
      assert.equal(safeReturnTo(bad, '/home', site), '/home', JSON.stringify(bad));
    }
  });
});

describe('memory store', () => {
  test('evicts the least recently used entry past its bound (recency kept to the second)', async () => {
    const clock = testClock();
    const store = memorySessionStore<{ n: number }>({ maxEntries: 2, clock });
    store.set('a', { n: 1 }, 60_000);
    store.set('b', { n: 2 }, 60_000);
    clock.advance(1_050);
    store.get('a');
    store.set('c', { n: 3 }, 60_000);
    assert.equal(store.get('b'), undefined);
    assert.equal((store.get('a') as { value: { n: number } }).value.n, 1);
    assert.equal(store.size, 2);
  });
  test('expires entries and answers delete truthfully', async () => {
    const clock = testClock();
    const store = memorySessionStore<{ n: number }>({ clock });
    store.set('a', { n: 1 }, 20);
    assert.equal(store.delete('missing'), false);
    clock.advance(30);
    assert.equal(store.get('a'), undefined);
    store.set('b', { n: 2 }, 60_000);
    assert.equal(store.delete('b'), true);
    assert.equal(store.delete('b'), false);
  });
  test('refuses a nonsensical bound', () => {
    assert.throws(() => memorySessionStore({ maxEntries: 0 }), /"maxEntries" must be a positive integer/);
    assert.throws(() => memorySessionStore({ hotEntries: -1 }), /"hotEntries" must be a whole number/);
  });
  test('keeps values as JSON and the hottest parsed: a cold read is an equal copy, a hot one the same object', () => {
    const store = memorySessionStore<{ n: number; list: string[] }>({ hotEntries: 2 });
    const a = { n: 1, list: ['x'] };
    store.set('a', a, 60_000);
    assert.equal((store.get('a') as { value: unknown }).value, a, 'hot: the same object');
    store.set('b', { n: 2, list: [] }, 60_000);
    store.set('c', { n: 3, list: [] }, 60_000);
    const cold = (store.get('a') as { value: unknown }).value;
    assert.notEqual(cold, a);
    assert.deepEqual(cold, a);
    store.touch('a', 120_000);
    assert.equal((store.get('a') as { value: unknown }).value, cold, 'a touch keeps the parsed value');
  });
});

describe('cookie signer', () => {
  test('verifies with any secret, signs with the first', () => {
    const old = createCookieSigner(['old-secret']);
    const rotated = createCookieSigner(['new-secret', 'old-secret']);
    assert.deepEqual(rotated.unsign(old.sign('id')), { value: 'id', rotated: true });
    assert.deepEqual(rotated.unsign(rotated.sign('id')), { value: 'id', rotated: false });
    assert.equal(old.unsign(rotated.sign('id')), undefined);
  });
  test('refuses tampered and malformed values', () => {
    const signer = createCookieSigner(['secret']);
    const signed = signer.sign('id');
    assert.equal(signer.unsign(`x${signed}`), undefined);
    assert.equal(signer.unsign('id'), undefined);
    assert.equal(signer.unsign('.abc'), undefined);
    assert.equal(signer.unsign(`${signed}x`), undefined);
  });
});

describe('cookie signatures are canonical: one valid cookie yields no other valid spelling', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const signer = createCookieSigner(['canonical-secret-0123456789abcdefgh']);
  // A real signed value whose signature holds both '-' and '_', so '+' and '/' can stand in for them.
  let signed = '';
  for (let i = 0; !/-.*_|_.*-/.test(signed.split('.')[1] ?? ''); i++) signed = signer.sign(`session-${i}`);
  const [value, signature] = signed.split('.') as [string, string];
  const last = signature.at(-1)!;
  const sameBytes = (spelling: string) =>
    Buffer.from(spelling, 'base64url').equals(Buffer.from(signature, 'base64url'));
  const trailing = [1, 2, 3].map((bits) => ALPHABET[ALPHABET.indexOf(last) ^ bits]!);
  const mutations: [string, string, boolean][] = [
    // [what, signature spelling, decodes to the same bytes with Buffer.from(…, 'base64url')]
    ...trailing.map((c, i): [string, string, boolean] => [
      `non-zero trailing bits ${i + 1}`,
      signature.slice(0, -1) + c,
      true,
    ]),
    ['padding "="', `${signature}=`, true],
    ['padding "=="', `${signature}==`, true],
    ["'+' for '-'", signature.replaceAll('-', '+'), true],
    ["'/' for '_'", signature.replaceAll('_', '/'), true],
    ["'+/' for '-_'", signature.replaceAll('-', '+').replaceAll('_', '/'), true],
    ['a stray "!" at the end', `${signature}!`, true],
    ['a stray "." inside', `${signature.slice(0, 10)}.${signature.slice(10)}`, true],
    ['a space inside', `${signature.slice(0, 10)} ${signature.slice(10)}`, true],
    ['a leading space', ` ${signature}`, true],
    ['a newline at the end', `${signature}\n`, true],
    ['a tab inside', `${signature.slice(0, 5)}\t${signature.slice(5)}`, true],
    ['upper case', signature.toUpperCase(), false],
    ['lower case', signature.toLowerCase(), false],
    ['one character more', `${signature}A`, false],
    ['one character less', signature.slice(0, -1), false],
    ['standard base64 with padding', `${Buffer.from(signature, 'base64url').toString('base64')}`, true],
    ['hex of the same bytes', Buffer.from(signature, 'base64url').toString('hex'), false],
    ['empty', '', false],
  ];
  test('the original verifies', () => {
    assert.deepEqual(signer.unsign(signed), { value, rotated: false });
  });
  for (const [what, spelling, lenientlySame] of mutations) {
    test(what, () => {
      assert.notEqual(spelling, signature);
      assert.equal(sameBytes(spelling), lenientlySame, 'the mutation is what the table says');
      assert.equal(signer.unsign(`${value}.${spelling}`), undefined);
    });
  }
});

describe('route option', () => {
  test('a malformed config.kinde is refused when the route is declared', async () => {
    const { default: Fastify } = await import('fastify');
    const { default: fastifyKinde } = await import('../src/index.js');
    const app = Fastify();
    await app.register(fastifyKinde, { env: base, sessionStore: 'memory' });
    assert.throws(
      () => app.get('/x', { config: { kinde: 'admin' as unknown as true } }, () => ({})),
      /route GET \/x: config.kinde must be true or a requirement object/,
    );
    await app.close();
  });
});

describe('guards refuse a requirement that would admit any signed-in caller', () => {
  const loose = (r: unknown) => r as GuardRequirement;
  const cases: [string, () => unknown, RegExp][] = [
    ['requirePermission([])', () => requirePermission([]), /"permissions" must list at least one name/],
    ['requirePermission([], any)', () => requirePermission([], { any: true }), /"anyPermission" must list/],
    ['requireRole([])', () => requireRole([]), /"roles" must list at least one name/],
    ['requireRole([], any)', () => requireRole([], { any: true }), /"anyRole" must list at least one/],
    ['requirePermission("")', () => requirePermission(''), /"permissions" must not contain blank/],
    ['requirePermission(["a", " "])', () => requirePermission(['a', ' ']), /must not contain blank/],
    ['requireRole(" ", any)', () => requireRole(' ', { any: true }), /"anyRole" must not contain blank/],
    [
      'requirePermission(undefined)',
      () => requirePermission(undefined as unknown as string),
      /a name or a list/,
    ],
    ['requireFlag("")', () => requireFlag(''), /a flag code must not be blank/],
    ['requireOrg("")', () => requireOrg(''), /"org" must be true or a non-blank/],
    ['requireOrg("  ")', () => requireOrg('  '), /"org" must be true or a non-blank/],
    ['requireKinde({ flags: {} })', () => requireKinde({ flags: {} }), /"flags" must name at least one/],
    ['requireKinde({ flags: { x: null } })', () => requireKinde(loose({ flags: { x: null } })), /flag "x"/],
    [
      'requireKinde({ permission })',
      () => requireKinde(loose({ permission: ['x'] })),
      /unknown guard requirement "permission"/,
    ],
    ['requireKinde({ roles: "admin" })', () => requireKinde(loose({ roles: 'admin' })), /"roles" must list/],
    ['requireKinde(null)', () => requireKinde(loose(null)), /must be an object/],
  ];
  for (const [name, make, message] of cases) {
    test(name, () => assert.throws(make, (e: Error) => e instanceof TypeError && message.test(e.message)));
  }
  test('well-formed requirements still make guards', () => {
    for (const make of [
      () => requireAuth(),
      () => requireKinde(),
      () => requirePermission('read:items'),
      () => requireRole(['admin', 'owner'], { any: true }),
      () => requireFlag('theme', 'pink'),
      () => requireOrg(),
      () => requireOrg('org_1'),
      () => requireKinde({ auth: 'bearer', permissions: ['a'], anyRole: ['b'], flags: { f: 0 }, org: true }),
    ]) {
      assert.equal(typeof make(), 'function');
    }
  });
  test('config.kinde with an empty list stops the route declaration, naming it', async () => {
    const { default: Fastify } = await import('fastify');
    const { default: fastifyKinde } = await import('../src/index.js');
    const app = Fastify();
    await app.register(fastifyKinde, { env: base, sessionStore: 'memory' });
    assert.throws(
      () => app.get('/admin', { config: { kinde: { anyRole: [] } } }, () => ({})),
      /route GET \/admin: config.kinde: fastify-kinde: "anyRole" must list at least one name/,
    );
    await app.close();
  });
});

describe('generational cache', () => {
  test('keeps between half and all of its bound, promotes what is read, drops the old half whole', async () => {
    const { GenerationalCache } = await import('../src/cache.js');
    const cache = new GenerationalCache<string, number>(4);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3); // a and b become the old generation
    assert.equal(cache.get('a'), 1, 'read from the old generation, promoted');
    cache.set('d', 4); // young {c, a} full: it becomes old, b is dropped
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 1);
    assert.equal(cache.get('c'), 3);
    cache.delete('a');
    assert.equal(cache.get('a'), undefined);
    assert.deepEqual([...cache.entries()].map(([k]) => k).sort(), ['c', 'd']);
  });
});

describe('modules', () => {
  test('no module exports a function named then (a namespace import would become a thenable)', async () => {
    const modules = [
      await import('../src/session/store.js'),
      await import('../src/session/manager.js'),
      await import('../src/index.js'),
    ];
    for (const namespace of modules) assert.equal('then' in namespace, false);
  });
});
