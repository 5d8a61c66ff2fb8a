/**
 * OpenTelemetry for the items API, offline: spans and metrics printed to the console. Load it before
 * the app: `node --import ./dist/src/otel.js dist/main.bundle.mjs` (README "Traces and metrics").
 * For a real backend, swap the console exporters for OTLP ones; the bridge stays the same.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { bridgeKindeToOpenTelemetry } from './otel-bridge.js';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }),
);
const meterProvider = new MeterProvider({
  readers: [
    new PeriodicExportingMetricReader({
      exporter: new ConsoleMetricExporter(),
      exportIntervalMillis: Number(process.env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000),
    }),
  ],
});
metrics.setGlobalMeterProvider(meterProvider);

bridgeKindeToOpenTelemetry({
  tracer: trace.getTracer('fastify-kinde'),
  meter: metrics.getMeter('fastify-kinde'),
});

// Flush the last metrics on the way out.
process.once('beforeExit', () => void meterProvider.shutdown());
