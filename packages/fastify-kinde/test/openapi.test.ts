import assert from 'node:assert/strict';
import { test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import swagger from '@fastify/swagger';
import Fastify from 'fastify';
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

test('guarded routes carry their security in the generated OpenAPI document, which is valid OpenAPI 3', async () => {
  const app = Fastify();
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 't', version: '1' },
      components: { securitySchemes: { custom: { type: 'apiKey', in: 'header', name: 'x-key' } } },
    },
  });
  await app.register(fastifyKinde, {
    env: {},
    issuerUrl: 'https://acme.kinde.com',
    clientId: 'abc',
    siteUrl: 'http://127.0.0.1:8000',
    sessionStore: 'memory',
  });
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
