import assert from 'node:assert/strict';
import { test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyKinde, {
  requireAuth,
  requireEntitlement,
  requireKinde,
  requirePermission,
} from '../src/index.js';

type Operation = {
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
  tags?: string[];
};
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: {
    securitySchemes: Record<string, { type: string; flows?: { authorizationCode: Record<string, unknown> } }>;
  };
};

/** The plugin's options in these tests (no environment read). */
const KINDE = {
  env: {},
  issuerUrl: 'https://acme.kinde.com',
  clientId: 'abc',
  siteUrl: 'http://127.0.0.1:8000',
  sessionStore: 'memory',
} as const;

test('guarded routes carry their security in the generated OpenAPI document, which is valid OpenAPI 3', async () => {
  const app = Fastify();
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 't', version: '1' },
      components: { securitySchemes: { custom: { type: 'apiKey', in: 'header', name: 'x-key' } } },
    },
  });
  await app.register(fastifyKinde, KINDE);
  app.get('/public', () => ({}));
  app.get('/any', { onRequest: requireAuth() }, () => ({}));
  app.get('/machines', { onRequest: requireAuth({ auth: 'bearer' }) }, () => ({}));
  app.get('/browsers', { preHandler: [requireKinde({ auth: 'session' })] }, () => ({}));
  app.delete(
    '/items/:id',
    { onRequest: [requireAuth(), requirePermission(['delete:items', 'write:items'])] },
    () => ({}),
  );
  app.get('/declared', { config: { kinde: { anyPermission: ['read:items'] } } }, () => ({}));
  app.get('/pro', { onRequest: requireEntitlement('Pro reports') }, () => ({}));
  app.get('/own', { onRequest: requireAuth(), schema: { security: [{ custom: [] }] } as object }, () => ({}));
  await app.ready();
  const document = app.swagger() as unknown as Document;

  const op = (path: string, method = 'get') => document.paths[path]?.[method] as Operation;
  assert.equal(op('/public').security, undefined);
  assert.deepEqual(op('/any').security, [{ kindeSession: [] }, { kindeBearer: [] }, { kindeOAuth2: [] }]);
  assert.deepEqual(op('/machines').security, [{ kindeBearer: [] }, { kindeOAuth2: [] }]);
  assert.deepEqual(op('/browsers').security, [{ kindeSession: [] }]);
  assert.deepEqual(op('/items/{id}', 'delete').security, [
    { kindeSession: [] },
    { kindeBearer: [] },
    { kindeOAuth2: ['delete:items', 'write:items'] },
  ]);
  assert.deepEqual(op('/declared').security?.[2], { kindeOAuth2: ['read:items'] });
  assert.deepEqual(op('/own').security, [{ custom: [] }], "a route's own security is kept");
  assert.ok(op('/any').responses['401']);
  assert.equal(op('/any').responses['403'], undefined);
  assert.ok(op('/items/{id}', 'delete').responses['403']);
  assert.equal(op('/items/{id}', 'delete').responses['503'], undefined);
  assert.ok(op('/pro').responses['403']);
  assert.ok(op('/pro').responses['503'], 'the Account API can be down');

  const schemes = document.components.securitySchemes;
  assert.deepEqual(Object.keys(schemes).sort(), ['custom', 'kindeBearer', 'kindeOAuth2', 'kindeSession']);
  const flow = schemes.kindeOAuth2?.flows?.authorizationCode as {
    authorizationUrl: string;
    tokenUrl: string;
    scopes: Record<string, string>;
  };
  assert.equal(flow.authorizationUrl, 'https://acme.kinde.com/oauth2/auth');
  assert.equal(flow.tokenUrl, 'https://acme.kinde.com/oauth2/token');
  assert.ok(flow.scopes['delete:items'] && flow.scopes.openid);

  for (const path of [
    '/api/auth/login',
    '/api/auth/register',
    '/api/auth/kinde_callback',
    '/api/auth/logout',
  ]) {
    assert.deepEqual(op(path).tags, ['auth'], path);
    assert.ok(op(path).responses['302'] && op(path).responses['400'], path);
  }
  await SwaggerParser.validate(structuredClone(document) as never);
  await app.close();
});

test("a guarded route's 401 is documented without a response schema Fastify looks up on every reply, and a route's own 4xx schema cannot reshape it", async () => {
  const app = Fastify();
  await app.register(swagger, { openapi: { openapi: '3.0.3', info: { title: 't', version: '1' } } });
  await app.register(fastifyKinde, KINDE);
  // What Fastify compiled for each route, through its public API (a 401 serializer or none), seen by
  // a hook that runs before the guard.
  const compiled = new Map<string, boolean>();
  const probe = (path: string) => (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    compiled.set(path, reply.getSerializationFunction('401') !== undefined);
    done();
  };
  app.get('/plain', { onRequest: [probe('/plain'), requireAuth()] }, () => ({}));
  app.get('/open', { onRequest: probe('/open') }, () => ({}));
  const problem = { type: 'object', properties: { error: { type: 'string' } }, additionalProperties: false };
  app.get(
    '/shaped',
    {
      onRequest: [probe('/shaped'), requireAuth()],
      schema: {
        response: { 200: { type: 'object', properties: { ok: { type: 'string' } } }, '4xx': problem },
      },
    },
    () => ({ ok: 'yes' }),
  );
  await app.ready();

  // Documented: the generated document has the guarded answers of both routes.
  const document = app.swagger() as unknown as Document;
  assert.ok(document.paths['/plain']?.get?.responses['401'], 'the route without schemas documents its 401');
  assert.ok(document.paths['/shaped']?.get?.responses['401']);
  assert.ok(document.paths['/shaped']?.get?.responses['4XX'], "the route's own responses are kept");

  // The route without response schemas has none compiled, so its replies skip Fastify's lookup.
  assert.equal((await app.inject({ url: '/open' })).statusCode, 200);
  assert.equal(compiled.get('/open'), false);
  const plain = await app.inject({ url: '/plain' });
  assert.equal(plain.statusCode, 401);
  assert.deepEqual(plain.json(), { detail: 'Not authenticated' });
  assert.equal(compiled.get('/plain'), false, 'no response schema compiled for a route that declared none');
  // The 401 of a route that declares its responses is compiled with them, ahead of its `4xx`.
  const shaped = await app.inject({ url: '/shaped', headers: { authorization: 'Bearer not-a-token' } });
  assert.equal(shaped.statusCode, 401);
  assert.deepEqual(shaped.json(), { detail: 'Not authenticated' }, 'the 4xx schema did not reshape the body');
  assert.equal(compiled.get('/shaped'), true);
  await app.close();
});
