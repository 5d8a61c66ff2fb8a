import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EventSubject, WebhookSource } from '../webhooks/events.js';
import type { Webhooks } from '../webhooks/hub.js';
import { guard } from './control.js';

const SOURCES: WebhookSource[] = ['admin', 'api', 'user'];

function bad(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(400).send({ error: 'invalid_request', error_description: message });
}

function body(request: FastifyRequest): Record<string, unknown> {
  const b = request.body;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

function subjectOf(b: Record<string, unknown>): EventSubject {
  const subject: EventSubject = {};
  for (const key of ['user', 'org', 'role', 'permission'] as const) {
    const v = b[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw new RangeError(`"${key}" must be a non-empty string`);
    subject[key] = v;
  }
  return subject;
}

/** Fires an event by hand: `data` as given, or built from the directory for `user`/`org`/`role`/`permission`. */
function fire(hooks: Webhooks, b: Record<string, unknown>) {
  if (typeof b.type !== 'string') throw new RangeError('"type" must be an event type, e.g. "user.created"');
  const source = (b.source ?? 'admin') as WebhookSource;
  if (!SOURCES.includes(source)) throw new RangeError(`"source" must be one of ${SOURCES.join(', ')}`);
  if (b.data !== undefined) {
    if (!b.data || typeof b.data !== 'object' || Array.isArray(b.data))
      throw new RangeError('"data" must be an object');
    return hooks.emit(b.type, b.data as Record<string, unknown>, source);
  }
  return hooks.emitFor(b.type, subjectOf(b), source);
}

/**
 * Registers the webhook controls under `/_emulator/webhooks` (loopback callers, JSON bodies):
 * endpoints (list, add, remove), firing any event by hand, the delivery log and replay.
 */
export function webhookRoutes(app: FastifyInstance, hooks: Webhooks): void {
  app.register(
    async (scope) => {
      guard(scope);
      scope.get('/', async () => ({ webhooks: hooks.endpoints() }));
      scope.post('/', async (request, reply) => {
        const b = body(request);
        try {
          const added = hooks.addEndpoint({ endpoint: b.endpoint as string, events: b.events as string[] });
          return reply.code(201).send(added);
        } catch (err) {
          return bad(reply, (err as Error).message);
        }
      });
      scope.delete('/:id', async (request, reply) => {
        const { id } = request.params as { id: string };
        if (hooks.removeEndpoint(id)) return { ok: true };
        return reply.code(404).send({
          error: 'not_found',
          error_description: `No webhook "${id}" added at run time (directory webhooks change with the directory)`,
        });
      });
      scope.post('/events', async (request, reply) => {
        try {
          return await reply.code(202).send(fire(hooks, body(request)));
        } catch (err) {
          if (err instanceof RangeError) return bad(reply, err.message);
          throw err;
        }
      });
      scope.get('/deliveries', async () => ({ deliveries: hooks.deliveries() }));
      scope.delete('/deliveries', async () => {
        hooks.clearLog();
        return { ok: true };
      });
      scope.post('/deliveries/:id/replay', async (request, reply) => {
        const { id } = request.params as { id: string };
        try {
          return await reply.code(202).send(hooks.replay(id));
        } catch (err) {
          return reply.code(404).send({ error: 'not_found', error_description: (err as Error).message });
        }
      });
    },
    { prefix: '/_emulator/webhooks' },
  );
}
