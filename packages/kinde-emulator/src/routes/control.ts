import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext, FailureTarget } from '../context.js';
import type { EmulatorControl, TokenFailureOptions } from '../control.js';
import { fromLoopback } from '../exposure.js';
import { DirectoryError } from '../validate.js';

function bad(reply: FastifyReply, message: string, field?: string): FastifyReply {
  return reply
    .code(400)
    .send({ error: 'invalid_request', error_description: message, ...(field ? { field } : {}) });
}

function body(request: FastifyRequest): Record<string, unknown> {
  const b = request.body;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

/** A handler that applies the request body to the directory: 400 naming the field when it is invalid. */
function directoryWrite(apply: (body: unknown) => void) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      apply(request.body);
    } catch (err) {
      if (err instanceof DirectoryError) return bad(reply, err.message, err.field);
      throw err;
    }
    return { ok: true };
  };
}

/** Refuses non-loopback callers, and mutations that are not JSON (so a web page cannot forge them). */
export function guard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!fromLoopback(request)) {
      return reply.code(403).send({ error: 'forbidden', error_description: 'Test control is loopback-only' });
    }
    const type = request.headers['content-type'] ?? '';
    const mutation = request.method === 'POST' || request.method === 'PUT' || request.method === 'PATCH';
    if (mutation && !type.startsWith('application/json')) {
      return reply
        .code(415)
        .send({ error: 'invalid_request', error_description: 'Send control requests as application/json' });
    }
  });
}

function redactedDirectory(ctx: EmulatorContext) {
  return {
    ...ctx.directory,
    applications: ctx.directory.applications.map((a) => ({
      ...a,
      clientSecret: a.clientSecret ? '(set)' : undefined,
    })),
  };
}

/**
 * Registers the test-control API under `/_emulator`: clock, request log, failure injection,
 * headless login, key rotation, directory replacement, reset.
 */
export function controlRoutes(app: FastifyInstance, ctx: EmulatorContext, control: EmulatorControl): void {
  app.register(
    async (scope) => {
      guard(scope);
      scope.get('/requests', async () => ({ requests: ctx.requests }));
      scope.delete('/requests', async () => {
        ctx.requests.length = 0;
        return { ok: true };
      });
      scope.get('/clock', async () => control.clock());
      scope.post('/clock', async (request, reply) => {
        const b = body(request);
        try {
          if (b.now !== undefined) control.setNow(Number(b.now));
          if (b.offsetSeconds !== undefined) control.setClockOffset(Number(b.offsetSeconds));
          if (b.advanceSeconds !== undefined) control.advanceClock(Number(b.advanceSeconds));
        } catch (err) {
          return bad(reply, (err as Error).message);
        }
        return control.clock();
      });
      scope.post('/failures/:target', async (request, reply) => {
        const { target } = request.params as { target: FailureTarget };
        try {
          control.failEndpoint(target, body(request) as unknown as TokenFailureOptions);
        } catch (err) {
          return bad(reply, (err as Error).message);
        }
        return { ok: true };
      });
      scope.delete('/failures', async () => {
        control.clearFailures();
        return { ok: true };
      });
      scope.post('/headless', async (request, reply) => {
        const enabled = body(request).enabled;
        if (typeof enabled !== 'boolean') return bad(reply, '"enabled" must be true or false');
        control.setHeadlessLogin(enabled);
        return { headlessLogin: enabled };
      });
      scope.post('/keys/prepare', async () => ({ kid: (await control.prepareKeyRotation()).kid }));
      scope.post('/keys/rotate', async () => ({ kid: (await control.rotateKeys()).kid }));
      scope.get('/directory', async () => redactedDirectory(ctx));
      scope.put(
        '/directory',
        directoryWrite((body) => control.setDirectory(body)),
      );
      scope.patch(
        '/directory',
        directoryWrite((body) => control.mergeDirectory(body)),
      );
      scope.post('/reset', async () => {
        control.reset();
        return { ok: true };
      });
    },
    { prefix: '/_emulator' },
  );
}
