import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type KindeTestKit, startKindeTest } from 'fastify-kinde/testing';
import { buildApp } from '../src/app.js';

const NAVIGATE = { accept: 'text/html,*/*;q=0.8', 'sec-fetch-mode': 'navigate' };

describe('the items API under protect: /docs listed as public, everything else behind a login', () => {
  let kit: KindeTestKit;
  let app: FastifyInstance;
  before(async () => {
    kit = await startKindeTest();
    app = await buildApp({
      kinde: kit.options({
        siteUrl: 'http://127.0.0.1:8000',
        protect: { publicPaths: ['/docs', '/docs/*', '/openapi.json', '/health'] },
      }),
    });
    await app.ready();
  });
  after(async () => {
    await app?.close();
    await kit?.close();
  });

  test('the docs and the document answer anyone; the auth routes still work', async () => {
    for (const url of ['/docs/json', '/openapi.json', '/docs/static/swagger-ui.css', '/health']) {
      const answer = await app.inject({ url });
      assert.equal(answer.statusCode, 200, url);
    }
    const docs = await app.inject({ url: '/docs', headers: NAVIGATE });
    assert.ok([200, 302].includes(docs.statusCode), `${docs.statusCode}`);
    if (docs.statusCode === 302) assert.doesNotMatch(docs.headers.location ?? '', /api\/auth\/login/);
    const login = await app.inject({ url: '/api/auth/login?returnTo=%2Fme' });
    assert.equal(login.statusCode, 302);
    assert.ok(login.headers.location?.startsWith(kit.issuerUrl));
  });

  test('the API answers 401 to scripts and sends a person opening it to login', async () => {
    assert.equal((await app.inject({ url: '/me' })).statusCode, 401);
    const page = await app.inject({ url: '/items/5?q=x', headers: NAVIGATE });
    assert.equal(page.statusCode, 302);
    assert.equal(page.headers.location, '/api/auth/login?returnTo=%2Fitems%2F5%3Fq%3Dx');
  });

  test('a signed-in caller gets through', async () => {
    const cookie = await kit.signIn(app);
    const answer = await app.inject({ url: '/items/5', headers: { cookie } });
    assert.equal(answer.statusCode, 200, answer.body);
  });
});

describe('the items API under protect without /docs listed', () => {
  test('it refuses to start: Swagger UI is registered before fastify-kinde, so its routes could not be guarded', async () => {
    const kit = await startKindeTest();
    try {
      const app = await buildApp({
        kinde: kit.options({ siteUrl: 'http://127.0.0.1:8000', protect: { publicPaths: [] } }),
      });
      await assert.rejects(
        async () => {
          await app.ready();
        },
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'ERR_CONFIG');
          assert.match(error.message, /"protect" cannot guard route .*GET \/docs\/json/);
          assert.doesNotMatch(error.message, /\/items|\/me\b/, 'routes after the plugin are guarded');
          return true;
        },
      );
      await app.close().catch(() => {});
    } finally {
      await kit.close();
    }
  });
});
