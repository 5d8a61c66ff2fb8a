// fastify-kinde rows: the compiled items API (examples/items-api) with a chosen session store, plus
// three bench-only routes under /_bench that the runner uses to set up the load, never during it.
//
// env: PORT, ISSUER_URL, CLIENT_ID, CLIENT_SECRET, STORE=memory|sqlite|redis|postgres,
//      SQLITE_PATH, REDIS_URL, REDIS_PREFIX, REDIS_TIMEOUT_MS (the store's command timeout: longer
//      under callgrind, whose 20–50× slowdown outlasts the default), MAX_ENTRIES (memory store bound),
//      DATABASE_URL, PG_TABLE, PG_CACHE=1|0 (the PostgreSQL store's local cache)
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import * as kinde from 'fastify-kinde';
import { buildApp } from '../../examples/items-api/dist/src/app.js';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const port = portFromEnv();
const siteUrl = `http://127.0.0.1:${port}`;
const storeName = process.env.STORE ?? 'memory';

/** @returns {Promise<import('fastify-kinde').SessionStore>} */
async function makeStore() {
  const api = /** @type {Record<string, (options: object) => import('fastify-kinde').SessionStore>} */ (
    /** @type {unknown} */ (kinde)
  );
  switch (storeName) {
    case 'memory':
      return kinde.memorySessionStore({ maxEntries: Number(process.env.MAX_ENTRIES ?? 100_000) });
    case 'sqlite':
      return api.sqliteSessionStore({ path: process.env.SQLITE_PATH });
    case 'redis': {
      const options = {
        url: process.env.REDIS_URL,
        prefix: process.env.REDIS_PREFIX,
        commandTimeoutMs: Number(process.env.REDIS_TIMEOUT_MS ?? 1_000),
      };
      try {
        return api.redisSessionStore({ ...options, localCache: true });
      } catch {
        return api.redisSessionStore({ ...options, localCache: {} });
      }
    }
    case 'postgres': {
      const store = api.postgresSessionStore({
        connectionString: process.env.DATABASE_URL,
        table: process.env.PG_TABLE,
        localCache: process.env.PG_CACHE !== '0',
      });
      await /** @type {{ ready(): Promise<void> }} */ (/** @type {unknown} */ (store)).ready();
      return store;
    }
    default:
      throw new Error(`unknown STORE ${storeName}`);
  }
}

const store = await makeStore();

// OTEL=1: the OpenTelemetry SDK with the items API's bridge (spans processed and dropped, metrics
// aggregated), and an onAuthEvent callback: the cost of running instrumented.
/** @type {Partial<import('fastify-kinde').KindeOptions>} */
let instrumented = {};
if (process.env.OTEL === '1') {
  // The SDK is a devDependency of the items API: resolved from there.
  const fromItemsApi = createRequire(new URL('../../examples/items-api/package.json', import.meta.url));
  const { BasicTracerProvider, SimpleSpanProcessor } = fromItemsApi('@opentelemetry/sdk-trace-base');
  const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } =
    fromItemsApi('@opentelemetry/sdk-metrics');
  const { bridgeKindeToOpenTelemetry } = await import('../../examples/items-api/dist/src/otel-bridge.js');
  const drop = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(drop)] }).getTracer(
    'bench',
  );
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.DELTA),
    exportIntervalMillis: 60_000,
  });
  bridgeKindeToOpenTelemetry({ tracer, meter: new MeterProvider({ readers: [reader] }).getMeter('bench') });
  let events = 0;
  instrumented = { onAuthEvent: () => void events++ };
}

// Remember the last session written (at login), to copy it under fresh ids for the growth runs.
// Only `set` is wrapped: the request hot path (`get`, `touch`) runs on the store untouched.
/** @type {{ key: string, value: object, ttlMs: number } | undefined} */
let captured;
const set = store.set.bind(store);
store.set = (key, value, ttlMs) => {
  if ('accessToken' in value) captured = { key, value, ttlMs };
  return set(key, value, ttlMs);
};

const app = await buildApp({
  kinde: {
    issuerUrl: process.env.ISSUER_URL,
    clientId: process.env.CLIENT_ID,
    clientSecret: process.env.CLIENT_SECRET,
    siteUrl,
    sessionSecret: 'bench-session-secret-0123456789abcdef0123',
    sessionStore: store,
    env: {},
    ...instrumented,
  },
});

app.get('/_bench/token', { onRequest: kinde.requireAuth() }, (request) => ({
  token: request.kinde.getAccessToken(),
}));

// The first-use budget run by the server itself (issue 15: one RSA verification + 10 µs): `/` with,
// before its guard, one node:crypto RSA-2048 verify of a signature made at start and 10 µs of work.
// Loaded exactly as the first-use row is (bench/README "Bearer, first use"), it says what that
// budget costs this server under that load, wake-ups and caches included.
const budgetKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const budgetData = randomBytes(700);
const budgetSignature = sign('sha256', budgetData, budgetKeys.privateKey);
app.get(
  '/_bench/budget',
  {
    onRequest: [
      (_request, _reply, done) => {
        if (!verify('sha256', budgetData, budgetKeys.publicKey, budgetSignature)) throw new Error('budget');
        const until = process.hrtime.bigint() + 10_000n;
        while (process.hrtime.bigint() < until);
        done();
      },
      kinde.requireAuth(),
    ],
  },
  () => ({ Hello: 'World' }),
);

app.get('/_bench/memory', () => {
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external };
});

/**
 * Copies the logged-in session under `n` fresh random ids through the store API. The memory store
 * gets a structured clone per session, so no two sessions share their strings.
 */
app.post('/_bench/fill', async (request, reply) => {
  const n = Number(/** @type {{ n?: string }} */ (request.query).n ?? 0);
  if (captured === undefined) return reply.code(409).send({ detail: 'log in first' });
  const { key, value, ttlMs } = captured;
  const prefix = key.slice(0, key.lastIndexOf(':') + 1);
  const clone = storeName === 'memory';
  const started = performance.now();
  const batch = 1000;
  for (let done = 0; done < n; done += batch) {
    const size = Math.min(batch, n - done);
    const bytes = randomBytes(32 * size);
    const pending = [];
    for (let i = 0; i < size; i++) {
      const id = bytes.subarray(i * 32, i * 32 + 32).toString('base64url');
      const result = set(prefix + id, clone ? structuredClone(value) : value, ttlMs);
      if (result instanceof Promise) pending.push(result);
    }
    if (pending.length > 0) await Promise.all(pending);
    await yieldToLoop();
  }
  return { n, ms: performance.now() - started };
});

await app.listen({ port, host: '127.0.0.1' });
ready({ url: siteUrl, store: storeName });
exitOnSignal(() => app.close());
