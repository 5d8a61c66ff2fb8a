import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { defaultDirectory } from 'kinde-emulator';
import { bridgeKindeToOpenTelemetry } from '../src/otel-bridge.js';
import { HttpClient, type Running, startItemsApi } from './harness.js';

const parentOf = (span: ReadableSpan): string | undefined =>
  (span as unknown as { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId ??
  (span as unknown as { parentSpanId?: string }).parentSpanId;

/** The spans under `root`, indented: what the README shows as "a login as a trace". */
function tree(spans: ReadableSpan[], root: ReadableSpan, depth = 0): string[] {
  const ms = (s: ReadableSpan) => (s.duration[0] * 1e3 + s.duration[1] / 1e6).toFixed(1);
  const line = `${'  '.repeat(depth)}${root.name} (${ms(root)} ms) ${JSON.stringify(root.attributes)}`;
  const children = spans.filter((s) => parentOf(s) === root.spanContext().spanId);
  return [line, ...children.flatMap((child) => tree(spans, child, depth + 1))];
}

describe('OpenTelemetry through the diagnostics_channel bridge (examples/items-api/src/otel-bridge.ts)', () => {
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  let stop: () => void;
  let api: Running;

  before(async () => {
    // Subscribed before the app registers: the bridge hears the instance announce itself.
    stop = bridgeKindeToOpenTelemetry({
      tracer: tracerProvider.getTracer('test'),
      meter: meterProvider.getMeter('test'),
    });
    api = await startItemsApi();
  });
  after(async () => {
    stop();
    await api.close();
    await meterProvider.shutdown();
  });

  test('a login is a trace: start and callback spans, the provider and store calls as their children', async (t) => {
    spans.reset();
    const cookie = await api.kit.signIn(api.app, { email: 'admin@example.test' });
    const finished = spans.getFinishedSpans();
    const start = finished.find((s) => s.name === 'kinde.login.start');
    const callback = finished.find((s) => s.name === 'kinde.login.callback');
    assert.ok(start && callback, finished.map((s) => s.name).join(', '));
    assert.equal(start.attributes['kinde.login.method'], 'login');
    const under = (parent: ReadableSpan) =>
      finished.filter((s) => parentOf(s) === parent.spanContext().spanId).map((s) => s.name);
    assert.ok(under(callback).includes('POST /oauth2/token'), under(callback).join(', '));
    assert.ok(under(callback).includes('set kinde_session'), under(callback).join(', '));
    const token = finished.find((s) => s.name === 'POST /oauth2/token')!;
    assert.equal(token.attributes['http.request.method'], 'POST');
    assert.equal(token.attributes['kinde.endpoint'], 'token');
    const set = finished.find((s) => s.name === 'set kinde_session')!;
    assert.equal(set.attributes['db.operation.name'], 'set');
    t.diagnostic(['a login as a trace:', ...tree(finished, start), ...tree(finished, callback)].join('\n'));
    // No secret rides on a span.
    const text = JSON.stringify(finished.map((s) => s.attributes));
    assert.ok(!text.includes(cookie.split('=')[1]!));

    const client = new HttpClient();
    assert.equal((await client.request(`${api.appUrl}/`)).status, 401);
    const bad = await fetch(`${api.appUrl}/`, { headers: { authorization: 'Bearer a.b.c' } });
    assert.equal(bad.status, 401);
  });

  test('metrics: provider and store durations, guard refusals by reason, audit events, cache counts', async () => {
    const cookie = await api.kit.signIn(api.app, { email: 'admin@example.test' });
    assert.equal((await fetch(`${api.appUrl}/me`, { headers: { cookie } })).status, 200);
    const bearer = await api.kit.bearerFor({ email: 'admin@example.test' });
    // A token is cached from its second use on: four requests, two misses and two hits.
    for (let i = 0; i < 4; i++) {
      const ok = await fetch(`${api.appUrl}/`, { headers: { authorization: `Bearer ${bearer}` } });
      assert.equal(ok.status, 200);
    }
    await reader.forceFlush();
    const exported = metricExporter.getMetrics();
    const all = exported.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    type Point = { attributes: Record<string, unknown>; value: unknown };
    const named = (name: string): Point[] =>
      all.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as Point[]);
    const http = named('http.client.request.duration');
    assert.ok(http.some((p) => p.attributes['kinde.endpoint'] === 'token'));
    assert.ok(named('db.client.operation.duration').some((p) => p.attributes['db.operation.name'] === 'get'));
    const refusals = named('kinde.guard.refusals');
    assert.ok(
      refusals.some((p) => p.attributes['kinde.reason'] === 'ERR_NOT_AUTHENTICATED' && p.value === 1),
    );
    assert.ok(refusals.some((p) => p.attributes['kinde.reason'] === 'ERR_TOKEN_INVALID'));
    const events = named('kinde.auth.events');
    assert.ok(events.some((p) => p.attributes['kinde.event'] === 'login.completed'));
    assert.ok(events.some((p) => p.attributes['kinde.event'] === 'bearer.refused'));
    const cache = named('kinde.token_cache.requests');
    const hits = cache.find((p) => p.attributes['kinde.cache.hit'] === true)?.value;
    assert.ok(typeof hits === 'number' && hits >= 2, `cache hits: ${hits}`);
  });
});

describe('GET /health', () => {
  let api: Running;
  before(async () => {
    api = await startItemsApi();
  });
  after(() => api.close());

  test('answers the health view, holds no secret, and probes the provider at most once per 30 s', async () => {
    await api.kit.clearRequests();
    const first = await fetch(`${api.appUrl}/health`);
    assert.equal(first.status, 200);
    const body = (await first.json()) as Record<string, Record<string, unknown>>;
    assert.equal(body.status as unknown, 'ok');
    assert.equal(body.provider!.ok, true);
    assert.equal(body.store!.ok, true);
    assert.ok('ageSeconds' in body.jwks!);
    assert.ok('bearer' in body.cache!);
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${api.appUrl}/health`)).status, 200);
    const probes = (await api.kit.requests()).filter((r) => r.path === '/.well-known/openid-configuration');
    assert.equal(probes.length, 1, 'six /health calls: one probe of the provider');
    const text = JSON.stringify(body);
    const application = defaultDirectory().applications[0]!;
    assert.ok(!text.includes(application.clientSecret!));
    const options = api.kit.options();
    assert.ok(!text.includes(String(options.sessionSecret)));
  });
});
