import type { SessionStore } from './session/store.js';

/** One probe's answer. `error` is a short, non-secret reason (an error code or HTTP status). */
export interface ProbeResult {
  ok: boolean;
  /** Milliseconds the probe took. */
  latencyMs: number;
  /** When it ran (ISO 8601): a cached answer says how old it is. */
  checkedAt: string;
  error?: string;
}

/** `app.kinde.health()`: what an app's own health route may show. Holds no secret. */
export interface KindeHealth {
  /** `ok` when the provider and the store answered; `degraded` otherwise. */
  status: 'ok' | 'degraded';
  /** The provider's discovery document could be fetched (cached for `healthProbeTtl` seconds). */
  provider: ProbeResult;
  /** The signing keys: seconds since they were fetched (null before the first fetch), and how many. */
  jwks: { ageSeconds: number | null; keys: number };
  /** A read of the session store (cached for 2 s). */
  store: ProbeResult;
  /** Verified-token cache of bearer requests: hits and misses since start, and the ratio. */
  cache: { bearer: { hits: number; misses: number; hitRatio: number | null } };
}

/** Counters the request hot path increments: plain integers, no allocation. */
export interface CacheCounters {
  bearerHits: number;
  bearerMisses: number;
}

const PROBE_TIMEOUT_MS = 2_000;
const STORE_PROBE_TTL_MS = 2_000;

/** Runs `probe` at most once per `ttlMs`, one at a time: a public health route cannot amplify load. */
function cachedProbe(
  probe: () => Promise<void>,
  ttlMs: number,
  now: () => number,
): () => Promise<ProbeResult> {
  let last: { at: number; result: ProbeResult } | undefined;
  let inflight: Promise<ProbeResult> | undefined;
  const run = async (): Promise<ProbeResult> => {
    const started = performance.now();
    const checkedAt = new Date(now()).toISOString();
    try {
      await probe();
      return { ok: true, latencyMs: Math.round(performance.now() - started), checkedAt };
    } catch (error) {
      // fetch fails with a TypeError whose cause has the code (ECONNREFUSED, …); timeouts are TimeoutError.
      const failure = error as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
      const code = failure.code ?? failure.cause?.code ?? failure.name;
      return {
        ok: false,
        latencyMs: Math.round(performance.now() - started),
        checkedAt,
        error: String(code ?? 'error').slice(0, 80),
      };
    }
  };
  return () => {
    if (last !== undefined && now() - last.at < ttlMs) return Promise.resolve(last.result);
    inflight ??= run().then((result) => {
      last = { at: now(), result };
      inflight = undefined;
      return result;
    });
    return inflight;
  };
}

/** What {@link createHealth} reads. */
export interface HealthDeps {
  issuerUrl: string;
  store: SessionStore;
  jwks: () => { fetchedAt: number; keys: number };
  counters: CacheCounters;
  providerTtlMs: number;
  /** The clock (milliseconds) of the probes' reuse and the JWKS age. Default `Date.now`. */
  now?: () => number;
}

/** Builds `app.kinde.health()`. */
export function createHealth(deps: HealthDeps): () => Promise<KindeHealth> {
  const now = deps.now ?? Date.now;
  const discovery = new URL('.well-known/openid-configuration', `${deps.issuerUrl.replace(/\/*$/, '')}/`);
  const provider = cachedProbe(
    async () => {
      const response = await fetch(discovery, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await response.body?.cancel();
      if (!response.ok) throw Object.assign(new Error('not ok'), { code: `HTTP_${response.status}` });
    },
    deps.providerTtlMs,
    now,
  );
  const store = cachedProbe(
    async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
          PROBE_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([Promise.resolve(deps.store.get('health:probe')), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    STORE_PROBE_TTL_MS,
    now,
  );

  return async () => {
    const [providerResult, storeResult] = await Promise.all([provider(), store()]);
    const { fetchedAt, keys } = deps.jwks();
    const { bearerHits: hits, bearerMisses: misses } = deps.counters;
    return {
      status: providerResult.ok && storeResult.ok ? 'ok' : 'degraded',
      provider: providerResult,
      jwks: { ageSeconds: fetchedAt === 0 ? null : Math.round((now() - fetchedAt) / 1000), keys },
      store: storeResult,
      cache: { bearer: { hits, misses, hitRatio: hits + misses === 0 ? null : hits / (hits + misses) } },
    };
  };
}
