/**
 * Test kit: a cookie-keeping HTTP client that follows redirects by hand, free ports, and a
 * login through the emulator's real pages. No mocks: everything talks HTTP on 127.0.0.1.
 */
import { createServer } from 'node:net';

/** A port that was free a moment ago (for servers that must know their URL before they listen). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** One response seen by the client. */
export interface Hop {
  url: string;
  status: number;
  location: string | null;
  body: string;
  headers: Headers;
}

/** The longest one {@link HttpClient.request} waits for its answer, unless given a signal. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** A tiny browser: a cookie jar per host and manual redirects. */
export class HttpClient {
  /** host -> cookie name -> value */
  readonly jar = new Map<string, Map<string, string>>();

  cookies(url: string): Map<string, string> {
    const host = new URL(url).hostname;
    let cookies = this.jar.get(host);
    if (!cookies) {
      cookies = new Map();
      this.jar.set(host, cookies);
    }
    return cookies;
  }

  private store(url: string, headers: Headers): void {
    const cookies = this.cookies(url);
    for (const line of headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(a));
      if (expired || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
  }

  /**
   * One request, no redirect following. Bounded: without a `signal` of its own it gives up after
   * {@link REQUEST_TIMEOUT_MS} (the answer and its body), so a broken server fails a test, never hangs it.
   */
  async request(url: string, init: RequestInit = {}): Promise<Hop> {
    const cookies = [...this.cookies(url)].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers = new Headers(init.headers);
    if (cookies) headers.set('cookie', cookies);
    const signal = init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const response = await fetch(url, { ...init, headers, redirect: 'manual', signal });
    this.store(url, response.headers);
    const location = response.headers.get('location');
    return {
      url,
      status: response.status,
      location: location === null ? null : new URL(location, url).href,
      body: await response.text(),
      headers: response.headers,
    };
  }

  /** Follows redirects (GET) until a non-redirect answer, `maxHops` at most; returns every hop. */
  async follow(url: string, init: RequestInit = {}, maxHops = 10): Promise<Hop[]> {
    const hops: Hop[] = [];
    let next: string | null = url;
    let options = init;
    while (next !== null && hops.length < maxHops) {
      const hop: Hop = await this.request(next, options);
      hops.push(hop);
      next = hop.status >= 300 && hop.status < 400 ? hop.location : null;
      options = {};
    }
    return hops;
  }
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i').exec(tag);
  return match?.[1]
    ?.replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** Submits the emulator's login page the way a person would, and returns the emulator's answer. */
export async function pickUserRequest(
  client: HttpClient,
  page: Pick<Hop, 'body' | 'url'>,
  email: string,
): Promise<Hop> {
  const forms = page.body.split(/<form\b/i).slice(1);
  for (const form of forms) {
    const buttons = [...form.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)];
    const button = buttons.find((b) => (b[2] ?? '').includes(email));
    if (!button) continue;
    const action = new URL(
      attribute(`<form${form.slice(0, form.indexOf('>') + 1)}`, 'action') ?? '',
      page.url,
    ).href;
    const body = new URLSearchParams();
    for (const input of form.matchAll(/<input\b[^>]*>/gi)) {
      const tag = input[0];
      const name = attribute(tag, 'name');
      if (name && /type\s*=\s*"hidden"/i.test(tag)) body.append(name, attribute(tag, 'value') ?? '');
    }
    const buttonName = attribute(button[1] ?? '', 'name');
    if (buttonName) body.append(buttonName, attribute(button[1] ?? '', 'value') ?? '');
    return client.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
  }
  throw new Error(`no button for ${email} on the login page at ${page.url}`);
}

/** Picks the user named `email` on the emulator's login page and follows the redirects back. */
export async function pickUser(client: HttpClient, page: Hop, email: string): Promise<Hop[]> {
  const hop = await pickUserRequest(client, page, email);
  return [hop, ...(hop.location ? await client.follow(hop.location) : [])];
}

/** Logs in through the app's login route and the emulator's page; returns every hop. */
export async function login(
  client: HttpClient,
  appUrl: string,
  email: string,
  path = '/api/auth/login',
): Promise<Hop[]> {
  const hops = await client.follow(`${appUrl}${path}`);
  const page = hops.at(-1)!;
  if (page.status !== 200) throw new Error(`expected the login page, got ${page.status} at ${page.url}`);
  return [...hops, ...(await pickUser(client, page, email))];
}

/**
 * Waits until `check` answers true, checking again `pollMs` after each answer (0: at the next turn
 * of the event loop); fails once `boundMs` have passed. Answers how many milliseconds it took, for
 * a test to report the bound it saw.
 */
export async function within(
  boundMs: number,
  check: () => boolean | Promise<boolean>,
  pollMs = 0,
): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > boundMs) throw new Error(`not within ${boundMs} ms`);
    await new Promise((resolve) => (pollMs > 0 ? setTimeout(resolve, pollMs) : setImmediate(resolve)));
  }
  return performance.now() - start;
}
export { architecturePageTests } from './architecture.js';
export { artifactsDir, CHROMIUM, CHROMIUM_FLAGS, chromiumMissing, launchChromium } from './chromium.js';
