/**
 * fastify-kinde → OpenTelemetry: subscribes to the plugin's `diagnostics_channel` channels and turns
 * them into spans and metrics through `@opentelemetry/api` only (whatever SDK the app installed).
 * Copy this file into an app; it is the whole bridge.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics_channel from 'node:diagnostics_channel';
import {
  type Attributes,
  type Context,
  context,
  type Meter,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/** What one traced operation looks like to the bridge. */
interface SpanKindSpec {
  channel: string;
  kind: SpanKind;
  name(message: Record<string, unknown>): string;
  attributes(message: Record<string, unknown>): Attributes;
  /** Records the duration (seconds) with the attributes known at the end. */
  record(seconds: number, attributes: Attributes): void;
  /**
   * Spans only under an active span (a login, a refresh, the HTTP server span): a session read on
   * every request is a metric, not a root span of its own (and a span costs ~4 µs a request).
   */
  childOnly?: boolean;
}

const PROVIDER_METHOD: Record<string, string> = {
  discovery: 'GET',
  jwks: 'GET',
  token: 'POST',
  user_profile: 'GET',
};
const PROVIDER_PATH: Record<string, string> = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/.well-known/jwks.json',
  token: '/oauth2/token',
  user_profile: '/oauth2/v2/user_profile',
};
const DB_SYSTEM: Record<string, string> = { postgres: 'postgresql', redis: 'redis', sqlite: 'sqlite' };

const isThenable = (value: unknown) => typeof (value as { then?: unknown } | null)?.then === 'function';

/**
 * Starts the bridge; returns a function that stops it. Span parents follow the async flow: a
 * provider call made during a login is a child of the login's span, which is a child of whatever
 * span was active (the HTTP server span, when the app traces HTTP).
 */
export function bridgeKindeToOpenTelemetry({ tracer, meter }: { tracer: Tracer; meter: Meter }): () => void {
  const parents = new AsyncLocalStorage<Context>();
  const active = () => parents.getStore() ?? context.active();
  // Seconds, with the bucket boundaries OpenTelemetry's semantic conventions advise for durations.
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
  const seconds = (name: string, description: string) =>
    meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: buckets } });
  const providerDuration = seconds('http.client.request.duration', 'Calls to the identity provider');
  const storeDuration = seconds('db.client.operation.duration', 'Session store operations');
  const loginDuration = seconds('kinde.login.duration', 'Login steps (start, callback)');
  const refreshDuration = seconds('kinde.session.refresh.duration', 'Session refreshes, by outcome');
  const guardRefusals = meter.createCounter('kinde.guard.refusals', { description: 'Guard refusals' });
  const authEvents = meter.createCounter('kinde.auth.events', { description: 'Audit events' });
  const tokenCache = meter.createObservableCounter('kinde.token_cache.requests', {
    description: 'Bearer requests answered from the verified-token cache (hit) or not',
  });

  const specs: SpanKindSpec[] = [
    {
      channel: 'fastify-kinde:login',
      kind: SpanKind.INTERNAL,
      name: (m) => `kinde.login.${String(m.step)}`,
      attributes: (m) => (m.method === undefined ? {} : { 'kinde.login.method': String(m.method) }),
      record: (s, a) => loginDuration.record(s, a),
    },
    {
      channel: 'fastify-kinde:refresh',
      kind: SpanKind.INTERNAL,
      name: () => 'kinde.session.refresh',
      attributes: () => ({}),
      record: (s, a) => refreshDuration.record(s, a),
    },
    {
      channel: 'fastify-kinde:provider',
      kind: SpanKind.CLIENT,
      name: (m) => `${PROVIDER_METHOD[String(m.endpoint)]} ${PROVIDER_PATH[String(m.endpoint)]}`,
      attributes: (m) => ({
        'http.request.method': PROVIDER_METHOD[String(m.endpoint)] ?? '_OTHER',
        'url.template': PROVIDER_PATH[String(m.endpoint)] ?? '',
        'kinde.endpoint': String(m.endpoint),
      }),
      record: (s, a) => providerDuration.record(s, a),
    },
    {
      channel: 'fastify-kinde:store',
      kind: SpanKind.CLIENT,
      name: (m) => `${String(m.operation)} kinde_session`,
      attributes: (m) => ({
        'db.system.name': DB_SYSTEM[String(m.store)] ?? String(m.store),
        'db.operation.name': String(m.operation),
        'db.collection.name': 'kinde_session',
      }),
      record: (s, a) => storeDuration.record(s, a),
      childOnly: true,
    },
  ];

  const stops: (() => void)[] = [];
  for (const spec of specs) stops.push(traceChannel(spec));

  const onGuard = (message: unknown) => {
    const { status, reason } = message as { status: number; reason: string };
    guardRefusals.add(1, { 'http.response.status_code': status, 'kinde.reason': reason });
  };
  const onEvent = (message: unknown) => {
    const event = message as { type: string; reason?: string; outcome?: string };
    authEvents.add(1, {
      'kinde.event': event.type,
      ...(event.reason === undefined ? {} : { 'kinde.reason': event.reason }),
      ...(event.outcome === undefined ? {} : { 'kinde.outcome': event.outcome }),
    });
  };
  const instances: { stats(): { bearerCache: { hits: number; misses: number } } }[] = [];
  const onInstance = (message: unknown) => instances.push(message as (typeof instances)[number]);
  tokenCache.addCallback((result) => {
    for (const instance of instances) {
      const { hits, misses } = instance.stats().bearerCache;
      result.observe(hits, { 'kinde.cache.hit': true });
      result.observe(misses, { 'kinde.cache.hit': false });
    }
  });
  const plain: [string, (message: unknown) => void][] = [
    ['fastify-kinde:guard', onGuard],
    ['fastify-kinde:auth-event', onEvent],
    ['fastify-kinde:instance', onInstance],
  ];
  for (const [name, handler] of plain) diagnostics_channel.subscribe(name, handler);
  return () => {
    for (const stop of stops) stop();
    for (const [name, handler] of plain) diagnostics_channel.unsubscribe(name, handler);
  };

  /** Subscribes one tracing channel: a span per operation, ended on its (sync or async) end. */
  function traceChannel(spec: SpanKindSpec): () => void {
    const channel = diagnostics_channel.tracingChannel<object, object>(spec.channel);
    const open = new WeakMap<object, { span: Span | undefined; started: number; attributes: Attributes }>();
    const finish = (message: Record<string, unknown>) => {
      const entry = open.get(message);
      if (entry === undefined) return;
      open.delete(message);
      const attributes: Attributes = { ...entry.attributes };
      if (typeof message.outcome === 'string') attributes['kinde.outcome'] = message.outcome;
      if (message.error !== undefined) {
        const error = message.error as { code?: string; name?: string };
        attributes['error.type'] = error.code ?? error.name ?? 'Error';
        entry.span?.setStatus({ code: SpanStatusCode.ERROR, message: attributes['error.type'] as string });
      }
      entry.span?.setAttributes(attributes);
      entry.span?.end();
      spec.record((performance.now() - entry.started) / 1000, attributes);
    };
    // The span becomes the parent of what runs inside the operation (bindStore runs `work` in it).
    channel.start.bindStore(parents, (message) => {
      const m = message as Record<string, unknown>;
      const parent = active();
      const attributes = spec.attributes(m);
      if (spec.childOnly && trace.getSpan(parent) === undefined) {
        open.set(message, { span: undefined, started: performance.now(), attributes });
        return parent;
      }
      const span = tracer.startSpan(spec.name(m), { kind: spec.kind, attributes }, parent);
      open.set(message, { span, started: performance.now(), attributes });
      return trace.setSpan(parent, span);
    });
    const handlers = {
      start() {},
      end(message: object) {
        const m = message as Record<string, unknown>;
        // A synchronous answer (or a throw) ends here; a promise ends at asyncEnd.
        if (m.error !== undefined || ('result' in m && !isThenable(m.result))) finish(m);
      },
      asyncStart() {},
      asyncEnd: (message: object) => finish(message as Record<string, unknown>),
      error() {},
    };
    channel.subscribe(handlers);
    return () => {
      channel.unsubscribe(handlers);
      channel.start.unbindStore(parents);
    };
  }
}
