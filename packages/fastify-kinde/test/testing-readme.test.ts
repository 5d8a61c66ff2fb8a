// The README's "Testing your routes" example, verbatim, so that it stays a test that passes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Fastify from 'fastify';
import fastifyKinde, { requirePermission } from 'fastify-kinde';
import { startKindeTest } from 'fastify-kinde/testing';

// At the top level of the file: `after` stops the emulator when the file's tests end.
const kit = await startKindeTest({ after });
const app = Fastify();
await app.register(fastifyKinde, kit.options());
app.delete('/items/:id', { onRequest: requirePermission('delete:items') }, (_req, reply) =>
  reply.code(204).send(),
);
after(() => app.close());

test('deleting needs delete:items', async () => {
  const anonymous = await app.inject({ method: 'DELETE', url: '/items/1' });
  assert.equal(anonymous.statusCode, 401);

  const reader = await kit.signIn(app, { permissions: ['read:items'] });
  const refused = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie: reader } });
  assert.equal(refused.statusCode, 403);
  assert.deepEqual(refused.json(), { detail: 'Missing permission: delete:items' });

  const admin = await kit.signIn(app, { permissions: ['delete:items'] });
  const deleted = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie: admin } });
  assert.equal(deleted.statusCode, 204);
});
