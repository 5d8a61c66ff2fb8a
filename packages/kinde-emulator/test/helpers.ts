import { createHash, randomBytes } from 'node:crypto';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, type Emulator } from '../src/index.js';

export const REDIRECT = 'http://127.0.0.1:3999/callback';
export const CLIENT_ID = DEFAULT_CLIENT_ID;
export const CLIENT_SECRET = DEFAULT_CLIENT_SECRET;

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(25).toString('hex');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export type Query = Record<string, string | string[] | undefined>;

export function authUrl(emu: Emulator, params: Query): string {
  const url = new URL('/oauth2/auth', emu.issuerUrl);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, item);
  }
  return url.toString();
}

export function baseAuthParams(extra: Query = {}): Query {
  return {
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    scope: 'openid profile email offline',
    state: 'st-123',
    ...extra,
  };
}

export async function get(url: string, cookie?: string): Promise<Response> {
  return fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
}

export async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

/** Extracts the login form: its action, the hidden txn, and the user buttons (id + visible text). */
export function parseLoginPage(html: string): {
  action: string;
  txn: string;
  users: { id: string; text: string }[];
} {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const txn = /name="txn" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !txn) throw new Error('no login form on the page');
  const users = [
    ...html.matchAll(/<button type="submit" name="user_id" value="([^"]+)">([\s\S]*?)<\/button>/g),
  ].map((m) => ({ id: m[1] as string, text: (m[2] as string).replace(/<[^>]+>/g, ' ') }));
  return { action, txn, users };
}

export function sessionCookie(res: Response): string | undefined {
  const raw = res.headers.get('set-cookie');
  return raw?.split(';')[0];
}

export interface LoginResult {
  callback: URL;
  code: string;
  cookie: string | undefined;
}

/** Runs GET /oauth2/auth, picks the user by email on the login page, and returns the callback. */
export async function login(emu: Emulator, email: string, params: Query): Promise<LoginResult> {
  const page = await get(authUrl(emu, params));
  if (page.status !== 200) throw new Error(`authorize answered ${page.status}`);
  const form = parseLoginPage(await page.text());
  const user = form.users.find((u) => u.text.includes(email));
  if (!user) throw new Error(`no button for ${email}`);
  const res = await postForm(new URL(form.action, emu.issuerUrl).toString(), {
    txn: form.txn,
    user_id: user.id,
  });
  if (res.status !== 302) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  const callback = new URL(res.headers.get('location') ?? '');
  return { callback, code: callback.searchParams.get('code') ?? '', cookie: sessionCookie(res) };
}

export async function token(
  emu: Emulator,
  form: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const res = await postForm(`${emu.issuerUrl}/oauth2/token`, form, headers);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** Exchanges an authorization code as the default confidential application (client_secret_post). */
export function exchangeCode(emu: Emulator, code: string, headers: Record<string, string> = {}) {
  return token(
    emu,
    {
      grant_type: 'authorization_code',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      code,
      redirect_uri: REDIRECT,
    },
    headers,
  );
}

export function basic(id: string, secret: string): Record<string, string> {
  const enc = (s: string) => encodeURIComponent(s);
  return { authorization: `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}` };
}
