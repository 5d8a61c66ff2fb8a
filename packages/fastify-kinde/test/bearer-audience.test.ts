import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { decodeJwt, SignJWT } from 'jose';
import { defaultDirectory } from 'kinde-emulator';
import fastifyKinde, { requireAuth, requirePermission } from '../src/index.js';
import { type Rig, SECRET, startRig } from './setup.js';

const OWN_CLIENT = defaultDirectory().applications[0]!.clientId;
const OUR_API = 'api://items';
const OTHER_API = 'api://billing';
const OTHER_APP = {
  clientId: 'other_app',
  clientSecret: 'OtherAppSecret0000000000000000000000000001',
};

/** The default directory, with a second application that signs users in and runs machine jobs. */
function directory() {
  const dir = defaultDirectory();
  dir.applications.push({
    name: 'Another app of the same tenant',
    clientId: OTHER_APP.clientId,
    clientSecret: OTHER_APP.clientSecret,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    redirectUris: [],
    logoutUris: [],
    allowLoopbackRedirects: true,
    orgCode: 'org_0000000001',
    permissions: ['read:items', 'write:items', 'delete:items'],
  });
  return dir;
}

function routes(app: FastifyInstance) {
  app.get('/who', { onRequest: requireAuth() }, (request) => ({
    kind: request.kinde.kind,
    user: request.kinde.getUser(),
  }));
  app.get('/delete', { onRequest: requirePermission('delete:items') }, () => ({ ok: true }));
}

interface Answer {
  status: number;
  body: string;
  challenge: string | null;
}

async function call(rig: Rig, path: string, token: string): Promise<Answer> {
  const response = await fetch(`${rig.appUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return {
    status: response.status,
    body: await response.text(),
    challenge: response.headers.get('www-authenticate'),
  };
}

function refused(answer: Answer, reason: RegExp): void {
  assert.equal(answer.status, 401, answer.body);
  assert.equal(answer.body, '{"detail":"Not authenticated"}');
  assert.match(answer.challenge ?? '', /^Bearer error="invalid_token", error_description="/);
  assert.match(answer.challenge ?? '', reason);
}

/** A client-credentials token, from the emulator's real token endpoint. */
async function machineToken(rig: Rig, clientId: string, clientSecret: string, audience?: string) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
  });
  if (audience !== undefined) body.set('audience', audience);
  const response = await fetch(`${rig.emulator.issuerUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** Re-signs a real token's claims, changed, with the emulator's key: trusted, so only the claims differ. */
function resign(rig: Rig, token: string, change: (claims: Record<string, unknown>) => void): Promise<string> {
  const claims = { ...decodeJwt(token) } as Record<string, unknown>;
  change(claims);
  const key = rig.emulator.keys.active;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

describe('bearer tokens without a configured audience (Kinde default)', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({ emulator: { directory: directory() }, routes });
  });
  after(() => rig.close());

  test("this app's own access token (aud: [], azp: this client) is a user", async () => {
    const { access_token } = await rig.emulator.control.issueTokens({ user: 'admin@example.test' });
    assert.deepEqual(decodeJwt(access_token).aud, []);
    const who = await call(rig, '/who', access_token);
    assert.equal(who.status, 200);
    assert.equal(JSON.parse(who.body).kind, 'user');
    assert.equal((await call(rig, '/delete', access_token)).status, 200);
  });

  test("ID tokens, this app's and another app's, are never bearer credentials", async () => {
    const own = await rig.emulator.control.issueTokens({ user: 'admin@example.test' });
    const other = await rig.emulator.control.issueTokens({
      user: 'admin@example.test',
      clientId: OTHER_APP.clientId,
    });
    for (const idToken of [own.id_token, other.id_token]) {
      assert.ok(idToken);
      refused(await call(rig, '/who', idToken), /ID token/);
      refused(await call(rig, '/delete', idToken), /ID token/);
    }
  });

  test('an access token meant for another API is refused', async () => {
    const { access_token } = await rig.emulator.control.issueTokens({
      user: 'admin@example.test',
      audience: [OTHER_API],
    });
    refused(await call(rig, '/who', access_token), /another API \(aud\).*KINDE_AUDIENCE/);
  });

  test("another application's tokens are refused: its users' and its machine tokens", async () => {
    const { access_token } = await rig.emulator.control.issueTokens({
      user: 'admin@example.test',
      clientId: OTHER_APP.clientId,
    });
    refused(await call(rig, '/who', access_token), /another application \(azp\)/);
    const forOtherApi = await machineToken(rig, OTHER_APP.clientId, OTHER_APP.clientSecret, OTHER_API);
    refused(await call(rig, '/who', forOtherApi), /another API/);
    refused(await call(rig, '/delete', forOtherApi), /another API/);
    const forNoApi = await machineToken(rig, OTHER_APP.clientId, OTHER_APP.clientSecret);
    refused(await call(rig, '/delete', forNoApi), /another application/);
  });

  test("this app's own machine token is a machine, with gty as an array or a string", async () => {
    const own = defaultDirectory().applications[0]!;
    const token = await machineToken(rig, own.clientId, own.clientSecret!);
    assert.deepEqual(decodeJwt(token).gty, ['client_credentials']);
    const asString = await resign(rig, token, (claims) => {
      claims.gty = 'client_credentials';
    });
    for (const machine of [token, asString]) {
      const who = await call(rig, '/who', machine);
      assert.equal(who.status, 200, who.body);
      assert.deepEqual(JSON.parse(who.body), { kind: 'machine', user: null });
    }
  });

  test('a token without a usable sub is never a user', async () => {
    const { access_token } = await rig.emulator.control.issueTokens({ user: 'admin@example.test' });
    const variants: Array<(claims: Record<string, unknown>) => void> = [
      (claims) => {
        delete claims.sub;
      },
      (claims) => {
        claims.sub = '';
      },
      (claims) => {
        claims.sub = '   ';
      },
      (claims) => {
        claims.sub = 42;
      },
      (claims) => {
        claims.sub = ['kp_1'];
      },
      (claims) => {
        claims.gty = ['refresh_token'];
        delete claims.sub;
      },
    ];
    for (const change of variants) {
      const token = await resign(rig, access_token, change);
      refused(await call(rig, '/who', token), /names no user \(sub\)/);
      refused(await call(rig, '/delete', token), /names no user/);
    }
  });
});

describe('bearer tokens without an audience, another client listed in bearer.clients', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({
      emulator: { directory: directory() },
      kinde: { bearer: { clients: [OTHER_APP.clientId] } },
      routes,
    });
  });
  after(() => rig.close());

  test("the listed client's tokens for no API pass; its tokens for another API and its ID tokens do not", async () => {
    const tokens = await rig.emulator.control.issueTokens({
      user: 'admin@example.test',
      clientId: OTHER_APP.clientId,
    });
    assert.equal(JSON.parse((await call(rig, '/who', tokens.access_token)).body).kind, 'user');
    const machine = await machineToken(rig, OTHER_APP.clientId, OTHER_APP.clientSecret);
    assert.equal((await call(rig, '/delete', machine)).status, 200);
    const forOtherApi = await machineToken(rig, OTHER_APP.clientId, OTHER_APP.clientSecret, OTHER_API);
    refused(await call(rig, '/delete', forOtherApi), /another API/);
    refused(await call(rig, '/who', tokens.id_token!), /ID token/);
  });

  test('a bad list is refused at start, naming the option', async () => {
    const app = Fastify();
    try {
      app.register(fastifyKinde, {
        issuerUrl: 'https://acme.kinde.com',
        clientId: OWN_CLIENT,
        siteUrl: 'http://127.0.0.1:8000',
        sessionSecret: SECRET,
        sessionStore: 'memory',
        env: {},
        bearer: { clients: [''] },
      });
      await assert.rejects(async () => {
        await app.ready();
      }, /"bearer.clients" must be a list of client ids/);
    } finally {
      await app.close().catch(() => {});
    }
  });
});

describe('bearer tokens with KINDE_AUDIENCE', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig({ emulator: { directory: directory() }, kinde: { audience: OUR_API }, routes });
  });
  after(() => rig.close());

  test("any application's token for this API passes; tokens for another API or none do not", async () => {
    const machine = await machineToken(rig, OTHER_APP.clientId, OTHER_APP.clientSecret, OUR_API);
    assert.equal((await call(rig, '/delete', machine)).status, 200);
    const other = await machineToken(rig, OTHER_APP.clientId, OTHER_APP.clientSecret, OTHER_API);
    refused(await call(rig, '/delete', other), /audience/);
    const { access_token } = await rig.emulator.control.issueTokens({ user: 'admin@example.test' });
    refused(await call(rig, '/who', access_token), /audience/);
  });

  test('an ID token is refused even when its aud names this API', async () => {
    const { id_token, access_token } = await rig.emulator.control.issueTokens({
      user: 'admin@example.test',
      audience: [OUR_API],
    });
    assert.equal((await call(rig, '/who', access_token)).status, 200);
    refused(await call(rig, '/who', id_token!), /audience|ID token/);
    const dressed = await resign(rig, id_token!, (claims) => {
      claims.aud = [OUR_API];
    });
    refused(await call(rig, '/who', dressed), /ID token/);
  });
});

describe('production without an audience', () => {
  test('the start warns that bearer tokens are limited to this app and how to change it', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = Fastify({ logger: { level: 'warn', stream } });
    await app.register(fastifyKinde, {
      issuerUrl: 'https://acme.kinde.com',
      clientId: OWN_CLIENT,
      siteUrl: 'https://app.example.com',
      sessionSecret: SECRET,
      sessionStore: 'memory',
      env: { NODE_ENV: 'production' },
    });
    await app.ready();
    await app.close();
    assert.ok(
      lines.some((line) => /KINDE_AUDIENCE is not set/.test(line) && /warn|"level":40/.test(line)),
      lines.join(''),
    );
  });
});
