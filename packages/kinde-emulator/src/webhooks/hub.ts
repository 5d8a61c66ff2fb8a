import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../context.js';
import type { KeyRing } from '../keys.js';
import type { Directory, WebhookConfig } from '../types.js';
import {
  buildEvent,
  type EventSubject,
  isEventType,
  sampleData,
  type WebhookEvent,
  type WebhookSource,
} from './events.js';
import { endpointProblem, postEvent, signEvent } from './send.js';

/** Kinde retries after 5 s, 30 s, 2 min, 10 min and 1 h (then hours apart; the emulator stops there). */
export const DEFAULT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000, 3_600_000];
const MAX_LOG = 1_000;

/** A webhook endpoint and the events it receives. */
export interface WebhookEndpoint extends WebhookConfig {
  /** `webhook_` and hex: derived from the directory entry, or random for one added at run time. */
  id: string;
  /** `directory` entries change with the directory; `runtime` ones were added by a control call. */
  origin: 'directory' | 'runtime';
}

/** One attempt of a delivery. */
export interface DeliveryAttempt {
  /** ISO 8601, real time. */
  at: string;
  responseCode?: number;
  error?: string;
}

/** A delivery of one event to one endpoint, as the log shows it (the signed token is not kept). */
export interface WebhookDelivery {
  /** `delivery_` and hex: this log entry. */
  id: string;
  /** The `webhook-id` header (Kinde's idempotency key): the same for every attempt and for replays. */
  requestId: string;
  webhookId: string;
  endpoint: string;
  event: WebhookEvent;
  /** `pending` (in flight or waiting for a retry), `delivered` (2xx), `failed` (attempts used up), `refused` (endpoint not allowed). */
  status: 'pending' | 'delivered' | 'failed' | 'refused';
  attempts: DeliveryAttempt[];
  /** Status code of the last response, if any. */
  responseCode?: number;
  lastError?: string;
  /** ISO 8601 of the next attempt while a retry is scheduled. */
  nextAttemptAt?: string;
  /** The delivery this one replays. */
  replayOf?: string;
}

/** Delivery settings. */
export interface WebhookOptions {
  /** Delays before each retry (ms); their count bounds the attempts. Default Kinde's first five. */
  retryDelaysMs?: number[];
  /** Time to wait for a response per attempt (ms); default 10000. */
  timeoutMs?: number;
}

function endpointId(config: WebhookConfig, index: number): string {
  const h = createHash('sha256').update(`${index}:${config.endpoint}`).digest('hex');
  return `webhook_${h.slice(0, 20)}`;
}

/**
 * Webhooks of an emulator: endpoints (the directory's and those added at run time), event emission,
 * signed deliveries with bounded retries, and the delivery log.
 *
 * @example
 * emu.webhooks.addEndpoint({ endpoint: 'http://127.0.0.1:4000/hooks', events: ['user.created'] });
 * emu.webhooks.emit('user.updated', { user: { id: 'kp_...' } }, 'api');
 */
export class Webhooks {
  private readonly runtime: WebhookEndpoint[] = [];
  private readonly log: WebhookDelivery[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private readonly retryDelaysMs: number[];
  private readonly timeoutMs: number;

  constructor(
    private readonly state: { directory: Directory; keys: KeyRing; clock: Clock },
    private readonly allowRemote: boolean,
    options: WebhookOptions = {},
  ) {
    const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    if (!Array.isArray(delays) || delays.length > 20 || !delays.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RangeError('"retryDelaysMs" must be at most 20 non-negative integers');
    }
    const timeout = options.timeoutMs ?? 10_000;
    if (!Number.isInteger(timeout) || timeout < 1)
      throw new RangeError('"timeoutMs" must be a positive integer');
    this.retryDelaysMs = [...delays];
    this.timeoutMs = timeout;
  }

  /** Every endpoint: the directory's `webhooks`, then those added at run time. */
  endpoints(): WebhookEndpoint[] {
    const fromDirectory = (this.state.directory.webhooks ?? []).map((w, i) => ({
      id: endpointId(w, i),
      endpoint: w.endpoint,
      events: [...w.events],
      origin: 'directory' as const,
    }));
    return [...fromDirectory, ...this.runtime.map((w) => ({ ...w, events: [...w.events] }))];
  }

  /** Adds an endpoint until the emulator stops. Throws a RangeError naming the bad field. */
  addEndpoint(config: WebhookConfig): WebhookEndpoint {
    const problem = endpointProblem(String(config?.endpoint ?? ''), this.allowRemote);
    if (typeof config?.endpoint !== 'string' || problem)
      throw new RangeError(`"endpoint" ${problem ?? 'is required'}`);
    if (!Array.isArray(config.events) || config.events.length === 0) {
      throw new RangeError('"events" must list at least one event type');
    }
    const bad = config.events.find((t) => !isEventType(t));
    if (bad !== undefined) throw new RangeError(`"events" has an unknown event type: ${JSON.stringify(bad)}`);
    const added: WebhookEndpoint = {
      id: `webhook_${randomBytes(10).toString('hex')}`,
      endpoint: config.endpoint,
      events: [...new Set(config.events)],
      origin: 'runtime',
    };
    this.runtime.push(added);
    return { ...added, events: [...added.events] };
  }

  /** Removes an endpoint added at run time; false if there is none with that id. */
  removeEndpoint(id: string): boolean {
    const i = this.runtime.findIndex((w) => w.id === id);
    if (i < 0) return false;
    this.runtime.splice(i, 1);
    return true;
  }

  /**
   * Emits an event: signs it and delivers it to every endpoint subscribed to `type` (in the
   * background). Returns the event and the ids of the deliveries started.
   */
  emit(type: string, data: Record<string, unknown>, source: WebhookSource = 'api') {
    if (!isEventType(type)) throw new RangeError(`unknown event type "${type}"`);
    if (!data || typeof data !== 'object' || Array.isArray(data))
      throw new RangeError('"data" must be an object');
    const event = buildEvent(type, data, source, this.state.clock.now());
    const deliveries = this.endpoints()
      .filter((w) => w.events.includes(type))
      .map((w) => this.start(w, event).id);
    return { event, deliveries };
  }

  /** Emits an event whose data is built from the directory (see {@link sampleData}). */
  emitFor(type: string, subject: EventSubject = {}, source: WebhookSource = 'admin') {
    if (!isEventType(type)) throw new RangeError(`unknown event type "${type}"`);
    return this.emit(type, sampleData(this.state.directory, type, subject), source);
  }

  /** The delivery log, newest first (copies). */
  deliveries(): WebhookDelivery[] {
    return this.log.map((d) => structuredClone(d)).reverse();
  }

  /** Sends a logged delivery's event again to the same endpoint: a new log entry, the same `webhook-id`. */
  replay(deliveryId: string): WebhookDelivery {
    const original = this.log.find((d) => d.id === deliveryId);
    if (!original) throw new RangeError(`no delivery "${deliveryId}" in the log`);
    const target = { id: original.webhookId, endpoint: original.endpoint };
    return structuredClone(this.start(target, original.event, original));
  }

  /** Forgets the delivery log (pending retries still run). */
  clearLog(): void {
    this.log.length = 0;
  }

  /**
   * Resolves once no delivery is in flight or waiting for a retry; rejects after `timeoutMs`
   * (default 30 s), so a test waiting on a long retry schedule fails instead of hanging.
   */
  async idle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 || this.timers.size > 0) {
      if (Date.now() > deadline) throw new Error(`webhook deliveries still pending after ${timeoutMs} ms`);
      await Promise.race([...this.inFlight, new Promise((r) => setTimeout(r, 20))]);
    }
  }

  /** Cancels retries and in-flight requests (called when the emulator closes). */
  close(): void {
    this.closing.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private start(
    w: Pick<WebhookEndpoint, 'id' | 'endpoint'>,
    event: WebhookEvent,
    replayOf?: WebhookDelivery,
  ) {
    const delivery: WebhookDelivery = {
      id: `delivery_${randomBytes(10).toString('hex')}`,
      requestId: replayOf?.requestId ?? `msg_${randomBytes(12).toString('hex')}`,
      webhookId: w.id,
      endpoint: w.endpoint,
      event,
      status: 'pending',
      attempts: [],
      ...(replayOf ? { replayOf: replayOf.id } : {}),
    };
    this.log.push(delivery);
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
    const problem = endpointProblem(w.endpoint, this.allowRemote);
    if (problem) {
      delivery.status = 'refused';
      delivery.lastError = `endpoint ${problem}`;
    } else {
      this.track(this.attempt(delivery));
    }
    return delivery;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    p.finally(() => this.inFlight.delete(p));
  }

  private async attempt(d: WebhookDelivery): Promise<void> {
    if (this.closing.signal.aborted) return;
    d.nextAttemptAt = undefined;
    const jwt = await signEvent(this.state.keys, d.event);
    const result = await postEvent(d.endpoint, jwt, d.requestId, this.timeoutMs, this.closing.signal);
    d.attempts.push({ at: new Date().toISOString(), ...result });
    d.responseCode = result.responseCode;
    d.lastError = result.error ?? (result.responseCode ? `HTTP ${result.responseCode}` : undefined);
    if (result.responseCode !== undefined && result.responseCode >= 200 && result.responseCode < 300) {
      d.status = 'delivered';
      d.lastError = undefined;
      return;
    }
    const delay = this.retryDelaysMs[d.attempts.length - 1];
    if (delay === undefined || this.closing.signal.aborted) {
      d.status = 'failed';
      return;
    }
    d.nextAttemptAt = new Date(Date.now() + delay).toISOString();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.track(this.attempt(d));
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}
