import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';

// An instance made before fastify-kinde is loaded is not watched from its creation: the plugin
// then checks config.kinde on each request instead. It must be made before the import below.
const unwatched = Fastify();

const { defaultDirectory, startEmulator } = await import('kinde-emulator');
const { default: fastifyKinde } = await import('../src/index.js');

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const AUDIENCE = 'api://route-option-test';

describe('config: { kinde } is enforced whatever the order of declaration', () => {
  let emulator: Emulator;
  let token: string;
  before(async () => {
    emulator = await startEmulator({ port: 0 });
    token = (await emulator.control.issueTokens({ user: 'user@example.test', audience: [AUDIENCE] }))
      .access_token;
  });
  after(() => emulator.close());

  function options() {
    const application = defaultDirectory().applications[0]!;
    return {
      issuerUrl: emulator.issuerUrl,
      clientId: application.clientId,
      clientSecret: application.clientSecret,
      siteUrl: 'http://127.0.0.1:1',
      sessionSecret: 'route-option-secret-0123456789abcdef',
      sessionStore: 'memory' as const,
      audience: AUDIENCE,
      env: {},
    };
  }

  async function status(app: FastifyInstance, url: string, bearer?: string, method: 'GET' | 'HEAD' = 'GET') {
    const headers = bearer ? { authorization: `Bearer ${bearer}` } : {};
    return (await app.inject({ method, url, headers })).statusCode;
  }

  test('a route declared before app.register(fastifyKinde) is guarded (GET and its HEAD)', async () => {
    const app = Fastify();
    app.get('/before', { config: { kinde: true } }, () => ({ ok: true }));
    app.get('/before-permission', { config: { kinde: { permissions: ['no:such'] } } }, () => ({}));
    app.get('/open', () => ({ ok: true }));
    await app.register(fastifyKinde, options());
    app.get('/after', { config: { kinde: true } }, () => ({ ok: true }));
    try {
      assert.equal(await status(app, '/before'), 401);
      assert.equal(await status(app, '/before', undefined, 'HEAD'), 401);
      assert.equal(await status(app, '/after'), 401);
      assert.equal(await status(app, '/open'), 200);
      assert.equal(await status(app, '/before', token), 200);
      assert.equal(await status(app, '/before-permission', token), 403);
    } finally {
      await app.close();
    }
  });

  test('a child plugin registered before or after the plugin, on the same instance, is guarded', async () => {
    const app = Fastify();
    await app.register(fastifyKinde, options());
    await app.register(async (child) => {
      child.get('/child', { config: { kinde: true } }, () => ({ ok: true }));
    });
    try {
      assert.equal(await status(app, '/child'), 401);
      assert.equal(await status(app, '/child', token), 200);
    } finally {
      await app.close();
    }
  });

  test('a plugin declared before fastify-kinde stops the start with an error naming the route', async () => {
    const app = Fastify();
    app.register(async (routes) => {
      routes.get('/early', { config: { kinde: { roles: ['admin'] } } }, () => ({ ok: true }));
    });
    app.register(fastifyKinde, options());
    await assert.rejects(async () => {
      await app.ready();
    }, /config\.kinde cannot be enforced on route GET \/early, HEAD \/early: fastify-kinde does not/);
    await app.close();
  });

  test('a route out of the plugin context, or with no plugin at all, stops the start', async () => {
    const scoped = Fastify();
    scoped.register(async (auth) => {
      await auth.register(fastifyKinde, options());
      auth.get('/inside', { config: { kinde: true } }, () => ({}));
    });
    scoped.register(async (other) => {
      other.get('/outside', { config: { kinde: true } }, () => ({}));
    });
    await assert.rejects(async () => {
      await scoped.ready();
    }, /config\.kinde cannot be enforced on route GET \/outside, HEAD \/outside:/);
    await scoped.close();

    const bare = Fastify();
    bare.post('/bare', { config: { kinde: true } }, () => ({}));
    await assert.rejects(async () => {
      await bare.ready();
    }, /config\.kinde cannot be enforced on route POST \/bare:/);
    await bare.close();
  });

  test('an instance made before fastify-kinde was imported checks config.kinde per request', async () => {
    unwatched.get('/before', { config: { kinde: { permissions: ['no:such'] } } }, () => ({ ok: true }));
    unwatched.get('/plain', () => ({ ok: true }));
    await unwatched.register(fastifyKinde, options());
    try {
      assert.equal(await status(unwatched, '/before'), 401);
      assert.equal(await status(unwatched, '/before', token), 403);
      assert.equal(await status(unwatched, '/plain'), 200);
    } finally {
      await unwatched.close();
    }
  });
});
