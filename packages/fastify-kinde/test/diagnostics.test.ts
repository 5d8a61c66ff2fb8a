import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { defaultDirectory } from 'kinde-emulator';
import { HttpClient } from 'test-kit';
import fastifyKinde, { KindeAuthError } from '../src/index.js';
import type { SessionRecord } from '../src/session/record.js';
import { type Rig, SECRET, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const application = defaultDirectory().applications[0]!;

/** Every value that must never appear in a diagnostics answer. */
function secretsOf(record: SessionRecord | undefined, cookie: string | undefined): string[] {
  const values = [application.clientSecret!, SECRET];
  if (cookie !== undefined) values.push(cookie, cookie.slice(0, cookie.lastIndexOf('.')));
  if (record !== undefined) {
    values.push(record.accessToken);
    if (record.refreshToken) values.push(record.refreshToken);
    if (record.idToken) values.push(record.idToken);
    // A token's signature alone is enough to tell it leaked.
    values.push(record.accessToken.split('.')[2]!);
  }
  return values;
}

function assertNoSecret(text: string, secrets: string[]): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `a secret leaked: ${secret.slice(0, 6)}…`);
}

describe('diagnostics: /api/auth/health and /api/auth/setup (opt-in)', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({ emulator: { headlessLogin: true }, kinde: { diagnostics: true } });
  });
  after(() => rig.close());

  test('off by default, in development and in production; KINDE_DIAGNOSTICS and the option turn them on', async () => {
    const base = {
      issuerUrl: 'https://acme.kinde.invalid',
      clientId: 'client',
      siteUrl: 'https://app.example',
      sessionSecret: SECRET,
      sessionStore: 'memory' as const,
    };
    const cases: [Record<string, string>, boolean | undefined, boolean][] = [
      [{}, undefined, false],
      [{ NODE_ENV: 'production' }, undefined, false],
      [{ KINDE_DIAGNOSTICS: 'true' }, undefined, true],
      [{ KINDE_DIAGNOSTICS: 'false' }, undefined, false],
      [{ NODE_ENV: 'production', KINDE_DIAGNOSTICS: 'true' }, undefined, true],
      [{ KINDE_DIAGNOSTICS: 'true' }, false, false],
      [{}, true, true],
    ];
    for (const [env, option, on] of cases) {
      const app = Fastify();
      await app.register(fastifyKinde, {
        ...base,
        env,
        ...(option !== undefined && { diagnostics: option }),
      });
      await app.ready();
      for (const url of ['/api/auth/health', '/api/auth/setup']) {
        assert.equal(app.hasRoute({ method: 'GET', url }), on, `${JSON.stringify(env)} ${option} ${url}`);
      }
      await app.close();
    }
  });

  test('a KINDE_DIAGNOSTICS or KINDE_DEBUG_MODE that is not true/false refuses to start, naming the variable', async () => {
    for (const [env, pattern] of [
      [
        { KINDE_DIAGNOSTICS: 'yes please' },
        /KINDE_DIAGNOSTICS \(option "diagnostics"\) must be "true" or "false"/,
      ],
      [{ KINDE_DEBUG_MODE: 'on' }, /KINDE_DEBUG_MODE \(option "debug"\) must be "true" or "false"/],
    ] as const) {
      const app = Fastify();
      await assert.rejects(
        async () =>
          app.register(fastifyKinde, {
            issuerUrl: 'https://acme.kinde.invalid',
            clientId: 'client',
            siteUrl: 'https://app.example',
            sessionStore: 'memory',
            env,
          }),
        (error: unknown) =>
          error instanceof KindeAuthError && error.code === 'ERR_CONFIG' && pattern.test(error.message),
      );
      await app.close();
    }
  });

  test('health: configured and reachable, in Kinde\'s names; the client secret only as "Set correctly"', async () => {
    const response = await fetch(`${rig.appUrl}/api/auth/health`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const text = await response.text();
    const body = JSON.parse(text);
    assert.equal(body.status, 'ok');
    assert.equal(body.issuerURL, rig.emulator.issuerUrl);
    assert.equal(body.clientID, application.clientId);
    assert.equal(body.clientSecret, 'Set correctly');
    assert.equal(body.redirectURL, `${rig.appUrl}/api/auth/kinde_callback`);
    assert.equal(body.apiPath, '/api/auth');
    assert.equal(body.provider.ok, true);
    assert.equal(body.store.ok, true);
    assertNoSecret(text, secretsOf(undefined, undefined));
  });

  test('setup signed out: 401 NOT_LOGGED_IN with the redacted configuration and the checks', async () => {
    const response = await fetch(`${rig.appUrl}/api/auth/setup`);
    assert.equal(response.status, 401);
    const text = await response.text();
    const body = JSON.parse(text);
    assert.equal(body.message, 'NOT_LOGGED_IN');
    assert.deepEqual(body.env, {
      clientId: application.clientId,
      issuerUrl: rig.emulator.issuerUrl,
      redirectUrl: rig.appUrl,
    });
    assert.equal(body.config.clientSecret, 'Set correctly');
    assert.equal(body.config.sessionSecret, 'Set (1 secret)');
    assert.equal(body.config.sessionStore, 'memory');
    assert.deepEqual(
      body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
      [
        ['provider', true],
        ['sessionStore', true],
        ['clientSecret', true],
        ['sessionSecret', true],
        ['callbackUrl', true],
        ['https', true],
        ['audience', true],
      ],
    );
    assert.equal(body.user, undefined);
    assertNoSecret(text, secretsOf(undefined, undefined));
  });

  test('setup signed in: the user, permissions, organization and flags; no token, cookie or secret anywhere', {
    timeout: 20_000,
  }, async () => {
    const client = new HttpClient();
    const hops = await client.follow(`${rig.appUrl}/api/auth/login?login_hint=${ADMIN}`);
    assert.equal(hops.at(-1)?.status, 200);
    const cookie = client.cookies(rig.appUrl).get('kinde_session')!;
    const entry = await rig.app.kinde.store.get(`sess:${cookie.slice(0, cookie.lastIndexOf('.'))}`);
    const record = entry?.value as SessionRecord;
    const answer = await client.request(`${rig.appUrl}/api/auth/setup`);
    assert.equal(answer.status, 200);
    const body = JSON.parse(answer.body);
    assert.equal(body.message, 'OK');
    assert.equal(body.user.email, ADMIN);
    assert.ok(body.permissions.permissions.includes('delete:items'));
    assert.equal(typeof body.organization.orgCode, 'string');
    assert.ok(Array.isArray(body.userOrganizations.orgCodes));
    const headers = JSON.stringify([...answer.headers]);
    const health = await client.request(`${rig.appUrl}/api/auth/health`);
    for (const text of [answer.body, headers, health.body]) assertNoSecret(text, secretsOf(record, cookie));
  });

  test("health says degraded (503) while the provider is down; setup's provider check fails", {
    timeout: 20_000,
  }, async () => {
    const down = await startRig({
      emulator: {},
      kinde: { diagnostics: true, healthProbeTtl: 0.001 },
    });
    try {
      down.emulator.control.failEndpoint('discovery', { mode: 'down' });
      const response = await fetch(`${down.appUrl}/api/auth/health`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { status: string; provider: { ok: boolean } };
      assert.equal(body.status, 'degraded');
      assert.equal(body.provider.ok, false);
      const setup = (await (await fetch(`${down.appUrl}/api/auth/setup`)).json()) as {
        checks: { name: string; ok: boolean }[];
      };
      assert.equal(setup.checks.find((c) => c.name === 'provider')?.ok, false);
    } finally {
      await down.close();
    }
  });

  test('a public client and a random session secret are reported as such, and the checks say so', async () => {
    const app = Fastify();
    await app.register(fastifyKinde, {
      issuerUrl: rig.emulator.issuerUrl,
      clientId: application.clientId,
      siteUrl: 'http://127.0.0.1:1',
      sessionStore: 'memory',
      diagnostics: true,
      env: {},
    });
    const setup = (await app.inject({ url: '/api/auth/setup' })).json();
    assert.equal(setup.config.clientSecret, 'Not set (public client: PKCE only)');
    assert.equal(setup.config.sessionSecret, 'Not set: a random secret for this process');
    assert.equal(setup.checks.find((c: { name: string }) => c.name === 'sessionSecret').ok, false);
    await app.close();
    const wrong = Fastify();
    await wrong.register(fastifyKinde, {
      issuerUrl: rig.emulator.issuerUrl,
      clientId: application.clientId,
      clientSecret: 'not-a-kinde-secret',
      siteUrl: 'http://127.0.0.1:1',
      sessionStore: 'memory',
      diagnostics: true,
      env: {},
    });
    const text = (await wrong.inject({ url: '/api/auth/health' })).body;
    assert.equal(JSON.parse(text).clientSecret, 'Not set correctly');
    assert.ok(!text.includes('not-a-kinde-secret'));
    await wrong.close();
  });
});
