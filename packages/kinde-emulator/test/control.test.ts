import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createEmulator, type Emulator, startEmulator } from '../src/index.js';
import { authUrl, baseAuthParams, CLIENT_ID, CLIENT_SECRET, get, token } from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

function control(method: string, path: string, body?: unknown) {
  return fetch(`${emu.issuerUrl}/_emulator${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
}

const cc = { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET };

test('clock offset over HTTP moves iat/exp', async () => {
  const set = await control('POST', '/clock', { offsetSeconds: 3600 });
  assert.equal(set.status, 200);
  const { now, offsetSeconds } = (await set.json()) as { now: number; offsetSeconds: number };
  assert.equal(offsetSeconds, 3600);
  assert.ok(Math.abs(now - (Math.floor(Date.now() / 1000) + 3600)) <= 1);
  const res = await token(emu, cc);
  const payload = JSON.parse(
    Buffer.from(String(res.body.access_token).split('.')[1] as string, 'base64url').toString(),
  );
  assert.ok(Math.abs(payload.iat - now) <= 1);
  await control('POST', '/clock', { advanceSeconds: -3600 });
  assert.equal(emu.control.clock().offsetSeconds, 0);
  assert.equal((await control('POST', '/clock', { offsetSeconds: 'soon' })).status, 400);
});

test('request log over HTTP lists token calls with grant_type; control calls are not logged', async () => {
  assert.equal((await control('DELETE', '/requests')).status, 200);
  await token(emu, cc);
  await fetch(`${emu.issuerUrl}/.well-known/jwks.json`);
  const { requests } = (await (await control('GET', '/requests')).json()) as {
    requests: Record<string, unknown>[];
  };
  assert.deepEqual(
    requests.map((r) => [r.method, r.path, r.grantType, r.status]),
    [
      ['POST', '/oauth2/token', 'client_credentials', 200],
      ['GET', '/.well-known/jwks.json', undefined, 200],
    ],
  );
  assert.equal(emu.requests.length, 2);
});

test('failure injection: token endpoint down for N calls, then slow', async () => {
  assert.equal((await control('POST', '/failures/token', { mode: 'down', count: 2 })).status, 200);
  for (let i = 0; i < 2; i++) {
    const down = await token(emu, cc);
    assert.equal(down.status, 503);
    assert.equal(down.body.error, 'temporarily_unavailable');
  }
  assert.equal((await token(emu, cc)).status, 200);
  emu.control.failTokenEndpoint({ mode: 'slow', delayMs: 150, count: 1 });
  const start = Date.now();
  assert.equal((await token(emu, cc)).status, 200);
  assert.ok(Date.now() - start >= 140);
  emu.control.failTokenEndpoint({ mode: 'down' });
  assert.equal((await control('DELETE', '/failures')).status, 200);
  assert.equal((await token(emu, cc)).status, 200);
  assert.equal((await control('POST', '/failures/token', { mode: 'broken' })).status, 400);
  assert.equal((await control('POST', '/failures/everything', { mode: 'down' })).status, 400);
});

test('failure injection: JWKS, user profile and discovery can be down too', async () => {
  for (const [target, path] of [
    ['jwks', '/.well-known/jwks.json'],
    ['jwks', '/.well-known/jwks'],
    ['user_profile', '/oauth2/v2/user_profile'],
    ['discovery', '/.well-known/openid-configuration'],
  ] as const) {
    assert.equal((await control('POST', `/failures/${target}`, { mode: 'down', count: 1 })).status, 200);
    const res = await fetch(`${emu.issuerUrl}${path}`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: string }).error, 'temporarily_unavailable');
    assert.notEqual((await fetch(`${emu.issuerUrl}${path}`)).status, 503);
  }
});

test('clock: set an absolute "now"', async () => {
  const target = 2_000_000_000;
  const res = await control('POST', '/clock', { now: target });
  assert.ok(Math.abs(((await res.json()) as { now: number }).now - target) <= 1);
  emu.control.setClockOffset(0);
});

test('headless login toggled over HTTP', async () => {
  const url = authUrl(emu, baseAuthParams({ login_hint: 'admin@example.test' }));
  assert.equal((await get(url)).status, 200);
  assert.equal((await control('POST', '/headless', { enabled: true })).status, 200);
  assert.equal((await get(url)).status, 302);
  await control('POST', '/headless', { enabled: false });
  assert.equal((await control('POST', '/headless', { enabled: 'yes' })).status, 400);
});

test('directory replaced over HTTP; bad directory names the field; secrets are redacted', async () => {
  const dir = (await (await control('GET', '/directory')).json()) as {
    applications: { clientSecret?: string }[];
  };
  assert.equal(dir.applications[0]?.clientSecret, '(set)');
  const bad = await control('PUT', '/directory', { users: [{ email: 'x' }], applications: [] });
  assert.equal(bad.status, 400);
  const body = (await bad.json()) as { field: string; error_description: string };
  assert.equal(body.field, 'users[0].email');
  const good = {
    users: [{ email: 'solo@example.test', givenName: 'Solo' }],
    applications: [{ clientId: 'c1', allowLoopbackRedirects: true }],
  };
  assert.equal((await control('PUT', '/directory', good)).status, 200);
  assert.equal(emu.directory.users[0]?.email, 'solo@example.test');
  assert.equal((await control('POST', '/reset', {})).status, 200);
  emu.control.setDirectory((await import('../src/index.js')).defaultDirectory());
});

test('mutating control calls must be JSON (no cross-site form posts)', async () => {
  const res = await fetch(`${emu.issuerUrl}/_emulator/reset`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=b',
  });
  assert.equal(res.status, 415);
});

test('control can be turned off', async () => {
  const quiet = await startEmulator({ control: false });
  try {
    assert.equal((await fetch(`${quiet.issuerUrl}/_emulator/requests`)).status, 404);
  } finally {
    await quiet.close();
  }
});

test('refuses to start with NODE_ENV=production', async () => {
  const previous = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await assert.rejects(createEmulator(), /refuses to run with NODE_ENV=production/);
  } finally {
    if (previous === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = previous;
  }
});

test('CORS: loopback origins may call the token endpoint (preflight and response)', async () => {
  const origin = 'http://127.0.0.1:8000';
  const pre = await fetch(`${emu.issuerUrl}/oauth2/token`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization',
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), origin);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const res = await token(emu, cc, { origin });
  assert.equal(res.headers.get('access-control-allow-origin'), origin);
  const foreign = await token(emu, cc, { origin: 'https://evil.example' });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
});
