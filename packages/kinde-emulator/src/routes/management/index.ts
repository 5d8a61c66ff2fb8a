import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../../context.js';
import { WriteError } from '../../directory-writes.js';
import { catalogRoutes } from './catalog.js';
import { ApiError, sendApiError } from './common.js';
import { organizationRoutes } from './organizations.js';
import { userRoutes } from './users.js';

/**
 * The Kinde Management API subset under `/api/v1`, answered from (and writing to) the directory, for
 * M2M tokens with audience `<issuer>/api` and the scope each call requires. Errors use Kinde's
 * `{errors: [{code, message}]}`; unknown routes its `not_found_response`.
 */
export function managementRoutes(ctx: EmulatorContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
      if (err instanceof ApiError || err instanceof WriteError) {
        return sendApiError(reply, err.status, err.code, err.message);
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500)
        request.log.error({ err: { name: err.name, stack: err.stack } }, 'management API error');
      const message = status === 500 ? 'Internal error in the emulator' : err.message;
      return sendApiError(reply, status, status === 500 ? 'INTERNAL_ERROR' : 'INVALID_REQUEST', message);
    });
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send({
        errors: {
          code: 'ROUTE_NOT_FOUND',
          message: `The emulator does not serve ${request.method} ${request.url.split('?')[0]}`,
        },
      }),
    );
    userRoutes(app, ctx);
    organizationRoutes(app, ctx);
    catalogRoutes(app, ctx);
  };
}
