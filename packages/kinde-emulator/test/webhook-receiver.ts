import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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
