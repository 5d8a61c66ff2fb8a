import Fastify, { type FastifyInstance } from 'fastify';
import fastifyKinde, { type KindeOptions, requireAuth, requirePermission } from 'fastify-kinde';

/**
 * A small app to test: anyone signed in may read an item; deleting one needs `delete:items`.
 * `kinde` is passed to fastify-kinde (in production, leave it out and set `KINDE_*` variables).
 */
export async function buildApp(kinde: KindeOptions = {}): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(fastifyKinde, kinde);
  const items = new Map<string, { id: string; name: string }>([['1', { id: '1', name: 'box' }]]);
  app.get<{ Params: { id: string } }>('/items/:id', { onRequest: requireAuth() }, async (request, reply) => {
    const item = items.get(request.params.id);
    return item ?? reply.code(404).send({ detail: 'No such item' });
  });
  app.delete<{ Params: { id: string } }>(
    '/items/:id',
    { onRequest: requirePermission('delete:items') },
    async (request, reply) => {
      const deleted = items.delete(request.params.id);
      return reply.code(deleted ? 204 : 404).send(deleted ? undefined : { detail: 'No such item' });
    },
  );
  app.get('/whoami', { onRequest: requireAuth() }, async (request) => ({
    kind: request.kinde.kind,
    email: request.kinde.getUser()?.email ?? null,
  }));
  return app;
}
