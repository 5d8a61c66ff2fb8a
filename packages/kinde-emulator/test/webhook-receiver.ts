import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeWebhook } from '@kinde/webhooks';
import type { Emulator } from '../src/index.js';

/** One request a receiver got. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP server on 127.0.0.1 that records webhook POSTs and answers with `status(n)`. */
export class Receiver {
  readonly received: Received[] = [];
  url = '';
  private server: Server | undefined;

  /** Status code for the n-th request (0-based); default always 200. */
  constructor(private readonly status: (n: number, path: string) => number = () => 200) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const code = this.status(this.received.length, path);
        this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (code >= 300 && code < 400) res.setHeader('location', `${this.url}/elsewhere`);
        res.writeHead(code).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Waits until `count` requests arrived (fails after `timeoutMs`). */
  async waitFor(count: number, timeoutMs = 5000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`receiver got ${this.received.length} of ${count} requests in ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.received;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * The deliveries `hooks` received from index `start` on, each decoded and verified by Kinde's
 * `decodeWebhook`, in the order `emu` emitted them (deliveries run concurrently, so they can arrive
 * in another order). Waits until no delivery is in flight first.
 */
export async function decodedSince<T extends { event_id: string }>(
  hooks: Receiver,
  emu: Emulator,
  start: number,
): Promise<T[]> {
  await emu.webhooks.idle(10_000);
  const out: T[] = [];
  for (const r of hooks.received.slice(start)) {
    const event = (await decodeWebhook(r.body, emu.issuerUrl)) as T | null;
    assert.ok(event, 'decodeWebhook accepted the delivery');
    out.push(event);
  }
  const order = emu.webhooks
    .deliveries()
    .reverse()
    .map((d) => d.event.event_id);
  return out.sort((a, b) => order.indexOf(a.event_id) - order.indexOf(b.event_id));
}
