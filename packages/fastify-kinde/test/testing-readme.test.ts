// The README's "Testing your routes" example, verbatim, so that it stays a test that passes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Fastify from 'fastify';
import fastifyKinde, { requirePermission } from 'fastify-kinde';
import { startKindeTest, testClock } from 'fastify-kinde/testing';

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

// The README's "Moving time" example.
test('moving time: a refresh a day later, the end of an idle session two days after that', async () => {
  const clock = testClock();
  const timed = Fastify();
  await timed.register(fastifyKinde, kit.options({ clock, idleTimeout: 172_800 }));
  timed.get('/items', { onRequest: requirePermission('read:items') }, () => []);
  after(() => timed.close());
  const cookie = await kit.signIn(timed, { permissions: ['read:items'] });

  clock.advance(86_400_000);
  await kit.advanceClock(86_400);
  await kit.clearRequests();
  assert.equal((await timed.inject({ url: '/items', headers: { cookie } })).statusCode, 200);
  const grants = (await kit.requests()).filter((r) => r.grantType === 'refresh_token');
  assert.equal(grants.length, 1, 'the expired access token was refreshed');

  clock.advance(172_800_000);
  assert.equal((await timed.inject({ url: '/items', headers: { cookie } })).statusCode, 401);
  await kit.advanceClock(-86_400); // the emulator back to real time for the rest of the file
});
