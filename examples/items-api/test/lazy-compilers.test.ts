/**
 * The app's validator and serializer compilers compile a route's schemas on its first request
 * instead of at start, and answer exactly as Fastify's own compilers do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AjvCompiler } from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import Fastify, { type FastifyInstance } from 'fastify';
import { lazySerializers, lazyValidators } from '../src/app.js';

const schema = {
  params: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] },
  querystring: { type: 'object', properties: { q: { type: 'string', maxLength: 3 } } },
  body: { type: 'integer' },
  response: {
    200: {
      type: 'object',
      properties: { id: { type: 'integer' }, q: { type: 'string' }, body: { type: 'integer' } },
    },
  },
} as const;

function app(compilers?: { validators: number[]; serializers: number[] }): FastifyInstance {
  const server = compilers
    ? Fastify({
        schemaController: {
          compilersFactory: {
            // Fastify's own compilers, counting what they compile.
            buildValidator: lazyValidators((external, options) => {
              const compile = AjvCompiler()(external, options);
              return (route) => {
                compilers.validators.push(1);
                return compile(route);
              };
            }),
            buildSerializer: lazySerializers((external, options) => {
              const compile = SerializerSelector()(external, options);
              return (route) => {
                compilers.serializers.push(1);
                return compile(route);
              };
            }),
          },
        },
      })
    : Fastify();
  server.post<{ Params: { id: number }; Querystring: { q?: string }; Body: number }>(
    '/things/:id',
    { schema },
    (request) => ({ id: request.params.id, q: request.query.q, body: request.body, extra: 'dropped' }),
  );
  return server;
}

const requests = [
  { url: '/things/7?q=ab', payload: '42' },
  { url: '/things/seven', payload: '42' },
  { url: '/things/7?q=abcd', payload: '42' },
  { url: '/things/7', payload: '"41"' },
  { url: '/things/7', payload: '"x"' },
];

test('nothing is compiled at start; each schema once, on first use', async () => {
  const compiled = { validators: [] as number[], serializers: [] as number[] };
  const lazy = app(compiled);
  await lazy.ready();
  assert.equal(compiled.validators.length, 0);
  assert.equal(compiled.serializers.length, 0);
  for (let i = 0; i < 3; i++) {
    const response = await lazy.inject({
      method: 'POST',
      ...requests[0],
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(response.statusCode, 200);
  }
  // params, querystring and body; one response schema.
  assert.equal(compiled.validators.length, 3);
  assert.equal(compiled.serializers.length, 1);
  await lazy.close();
});

test("answers, coercions and validation errors are Fastify's own", async () => {
  const lazy = app({ validators: [], serializers: [] });
  const eager = app();
  try {
    for (const request of requests) {
      const options = {
        method: 'POST' as const,
        ...request,
        headers: { 'content-type': 'application/json' },
      };
      const [a, b] = [await lazy.inject(options), await eager.inject(options)];
      assert.equal(a.statusCode, b.statusCode, request.url);
      assert.equal(a.body, b.body, request.url);
    }
  } finally {
    await lazy.close();
    await eager.close();
  }
});
