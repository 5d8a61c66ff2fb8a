import { AjvCompiler } from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyInstance,
  type FastifySchema,
  type FastifySchemaValidationError,
  type FastifyServerOptions,
} from 'fastify';
import fastifyKinde, { type KindeOptions, requireAuth } from 'fastify-kinde';

/** Options of the items API. */
export interface ItemsApiOptions {
  /** Passed to fastify-kinde; anything left out comes from `KINDE_*` variables. */
  kinde?: KindeOptions;
  /** Fastify's logger option. Default: off. */
  logger?: FastifyServerOptions['logger'];
  /**
   * The client id Swagger UI signs in with (a public application: PKCE, no secret), so that the
   * docs' Authorize button works. `KINDE_DOCS_CLIENT_ID`; without it the button is still shown.
   */
  docsClientId?: string;
}

/**
 * FastAPI's `item_id: int` takes integers of any size, and answers with exactly that integer.
 * A JSON Schema `integer` would be coerced to a JavaScript number and rounded past 2^53 (or become
 * Infinity), so the id is taken as its digits and echoed as written, without leading zeros.
 */
const ITEM_ID = /^-?[0-9]{1,4300}$/;

const itemParams = {
  type: 'object',
  properties: {
    item_id: {
      type: 'string',
      pattern: ITEM_ID.source,
      description:
        'The item id: an integer of any size, in decimal digits (a leading "-" for a negative one)',
      examples: ['420'],
    },
  },
  required: ['item_id'],
} as const;

const itemQuery = {
  type: 'object',
  properties: { q: { type: 'string', maxLength: 1024, description: 'An optional query string' } },
} as const;

const itemResponse = {
  type: 'object',
  properties: { item_id: { type: 'integer' }, q: { type: ['string', 'null'] } },
  required: ['item_id', 'q'],
} as const;

/** Validation errors of `/items/{item_id}`, with the id's rule said in words. */
function itemErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const text = errors
    .map((e) =>
      e.instancePath === '/item_id'
        ? `${dataVar}/item_id must be integer (decimal digits, optionally after "-"; at most 4300 digits)`
        : `${dataVar}${e.instancePath} ${e.message}`,
    )
    .join(', ');
  return new Error(text);
}

type ValidatorFactory = ReturnType<typeof AjvCompiler>;
type Validate = ReturnType<ReturnType<ValidatorFactory>>;
type SerializerFactory = ReturnType<typeof SerializerSelector>;
type Serialize = ReturnType<ReturnType<SerializerFactory>>;

/**
 * Fastify's own validator compiler (ajv), compiling each route's schema when the route first
 * validates a request instead of while the app starts. Compiling the schemas (and, for the first,
 * JSON Schema's meta-schema that ajv checks every schema against) was the largest part of start-up:
 * about a quarter of the busy time to the first answered request. The compiled validator is the
 * same one Fastify would have made, with the same ajv options, and validates the same; a schema
 * error shows on the route's first request instead of at start (the tests call every route).
 *
 * One difference: Fastify treats any compiler given this way as custom, so it leaves `headers`
 * schemas as written instead of lower-casing their property names. This app has none.
 */
export function lazyValidators(factory: ValidatorFactory = AjvCompiler()): ValidatorFactory {
  return ((externalSchemas, options) => {
    let compiler: ReturnType<ValidatorFactory> | undefined;
    return (route: Parameters<ReturnType<ValidatorFactory>>[0]) => {
      let compiled: Validate | undefined;
      const real = (): Validate => {
        if (compiled === undefined) {
          compiler ??= factory(externalSchemas, options);
          compiled = compiler(route);
        }
        return compiled;
      };
      const validate = function (this: unknown, ...args: unknown[]) {
        const fn = real();
        const result = (fn as (...a: unknown[]) => unknown).apply(this, args);
        validate.errors = fn.errors;
        return result;
      } as unknown as Validate & { errors: Validate['errors'] };
      // Fastify reads `schemaEnv` before each call (ajv mutates a coerced root value through it).
      Object.defineProperty(validate, 'schemaEnv', { get: () => real().schemaEnv });
      return validate;
    };
  }) as ValidatorFactory;
}

/**
 * Fastify's own response serializer compiler (fast-json-stringify), compiling each response schema
 * when a reply first uses it. Most of this app's response schemas only document the auth routes'
 * redirects and errors, and were compiled at every start (about 4% of it).
 */
export function lazySerializers(factory: SerializerFactory = SerializerSelector()): SerializerFactory {
  return ((externalSchemas, options) => {
    let compiler: ReturnType<SerializerFactory> | undefined;
    return (route: Parameters<ReturnType<SerializerFactory>>[0]) => {
      let compiled: Serialize | undefined;
      return ((data: unknown) => {
        if (compiled === undefined) {
          compiler ??= factory(externalSchemas, options);
          compiled = compiler(route);
        }
        return compiled(data);
      }) as Serialize;
    };
  }) as SerializerFactory;
}

/**
 * The tutorial's application: `/` and `/items/{item_id}`, reachable only after a Kinde login,
 * `/me` for the signed-in user, and `/docs` over the generated OpenAPI document.
 */
export async function buildApp(options: ItemsApiOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    schemaController: {
      compilersFactory: { buildValidator: lazyValidators(), buildSerializer: lazySerializers() },
    },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Items API', version: '0.1.0', description: 'The tutorial’s API, protected by Kinde.' },
    },
  });
  const docsClientId = options.docsClientId ?? process.env.KINDE_DOCS_CLIENT_ID;
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    initOAuth: {
      ...(docsClientId ? { clientId: docsClientId } : {}),
      usePkceWithAuthorizationCodeGrant: true,
      scopes: ['openid', 'profile', 'email'],
    },
    uiConfig: { persistAuthorization: false },
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  // Swagger UI signs in as the docs client, so its tokens name that client (azp): accept them too.
  const kinde = options.kinde ?? {};
  const clients = [...(kinde.bearer?.clients ?? []), ...(docsClientId ? [docsClientId] : [])];
  await app.register(fastifyKinde, { ...kinde, bearer: { ...kinde.bearer, clients } });

  app.get('/', { onRequest: requireAuth() }, () => ({ Hello: 'World' }));

  app.get<{ Params: { item_id: string }; Querystring: { q?: string } }>(
    '/items/:item_id',
    {
      onRequest: requireAuth(),
      schema: { params: itemParams, querystring: itemQuery, response: { 200: itemResponse } },
      schemaErrorFormatter: itemErrors,
    },
    (request, reply) =>
      // Sent as JSON text: the serializer would turn the id into a (rounded) JavaScript number.
      reply
        .type('application/json; charset=utf-8')
        .send(`{"item_id":${BigInt(request.params.item_id)},"q":${JSON.stringify(request.query.q ?? null)}}`),
  );

  app.get('/me', { onRequest: requireAuth() }, (request) => request.kinde.getUser());

  // Public, and cheap: the provider probe is cached (30 s) and shared, so polling /health cannot
  // turn into load on Kinde. 503 while the provider or the store is unreachable.
  app.get(
    '/health',
    {
      logLevel: 'warn',
      schema: {
        tags: ['ops'],
        summary: 'Health of the service: identity provider, signing keys, session store, caches',
      } as FastifySchema,
    },
    async (_request, reply) => {
      const health = await app.kinde.health();
      return reply
        .code(health.status === 'ok' ? 200 : 503)
        .header('cache-control', 'no-store')
        .send(health);
    },
  );

  return app;
}
