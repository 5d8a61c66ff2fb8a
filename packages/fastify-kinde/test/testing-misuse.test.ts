import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { startEmulator } from 'kinde-emulator';
import { freePort } from 'test-kit';
import fastifyKinde from '../src/index.js';
import { connectKindeTest, KindeTestError, startKindeTest } from '../src/testing/index.js';

const kit = await startKindeTest({ after });
const app = Fastify();
await app.register(fastifyKinde, kit.options());
after(() => app.close());

/** Asserts a KindeTestError whose message matches `pattern`. */
async function refuses(action: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(action, (error: Error) => {
    assert.ok(error instanceof KindeTestError, `${error.name}: ${error.message}`);
    assert.match(error.message, pattern);
    assert.match(error.message, /^fastify-kinde\/testing: /);
    return true;
  });
}

describe('misuse of signIn, bearerFor and machineToken: a clear error each', () => {
  test('an unknown user is named, with the users that exist', async () => {
    await refuses(
      () => kit.signIn(app, { email: 'nobody@example.test' }),
      /signIn: no user "nobody@example.test" in the emulator's directory \(known: admin@example.test, user@example.test\); pass \{ user: \{ email \} \} to create one/,
    );
    await refuses(() => kit.bearerFor({ email: 'nobody@example.test' }), /bearerFor: no user "nobody@/);
  });

  test('bad options are refused before anything changes', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ permission: ['x'] }, /unknown option "permission" \(known: email, user, permissions/],
      [{ permissions: 'delete:items' }, /"permissions" must be an array of non-empty strings/],
      [{ permissions: [''] }, /"permissions" must be an array of non-empty strings/],
      [{ roles: [1] }, /"roles" must be an array of non-empty strings/],
      [{ flags: { beta: 1.5 } }, /flag "beta" must be a boolean, an integer or a string/],
      [{ flags: ['beta'] }, /"flags" must be an object/],
      [{ org: 'acme' }, /"org" must be an organization code like org_acme, got "acme"/],
      [{ email: 'admin@example.test', user: { email: 'a@b.c' } }, /pass "email" or "user", not both/],
      [{ user: { email: 'not-an-email' } }, /"user.email" must be an email address/],
      [{ email: '' }, /"email" must be a non-empty string/],
    ];
    const users = (await kit.requests()).length;
    for (const [options, pattern] of cases) {
      await refuses(() => kit.signIn(app, options as never), pattern);
    }
    assert.equal((await kit.requests()).length, users, 'no request reached the emulator');
    await refuses(
      () => kit.bearerFor({ audience: [''] }),
      /bearerFor: "audience" must be a non-empty string/,
    );
    await refuses(() => kit.machineToken({ email: 'x' } as never), /machineToken: unknown option "email"/);
    await refuses(() => kit.machineToken({ permissions: 'x' } as never), /"permissions" must be an array/);
    await refuses(() => kit.machineToken({ org: 'nope' }), /"org" must be an organization code/);
  });

  test('an app without fastify-kinde, or trusting another issuer, or not an app', async () => {
    const bare = Fastify();
    bare.get('/', () => 'hi');
    await refuses(() => kit.signIn(bare), /signIn: this app has no fastify-kinde: register it first/);
    await bare.close();
    const other = Fastify();
    await other.register(fastifyKinde, kit.options({ issuerUrl: 'http://127.0.0.1:9' }));
    await refuses(
      () => kit.signIn(other, { email: 'admin@example.test' }),
      /the app trusts the issuer http:\/\/127\.0\.0\.1:9, not this kit's emulator/,
    );
    await other.close();
    await refuses(() => kit.signIn({} as FastifyInstance), /the first argument must be a Fastify app/);
  });

  test('a login route that does not redirect is reported with its answer', async () => {
    const broken: FastifyInstance = Fastify();
    await broken.register(fastifyKinde, kit.options());
    broken.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/api/auth/login')) return reply.code(418).send({ detail: 'teapot' });
    });
    await refuses(
      () => kit.signIn(broken, { email: 'admin@example.test' }),
      /signIn: GET \/api\/auth\/login answered 418 instead of a redirect: \{"detail":"teapot"\}/,
    );
    await broken.close();
  });

  test('a login route that sends the browser elsewhere than the emulator is refused', async () => {
    const elsewhere: FastifyInstance = Fastify();
    await elsewhere.register(fastifyKinde, kit.options());
    elsewhere.addHook('onSend', async (request, reply, payload) => {
      if (request.url.startsWith('/api/auth/login'))
        reply.header('location', 'http://127.0.0.1:9/oauth2/auth');
      return payload;
    });
    await refuses(
      () => kit.signIn(elsewhere, { email: 'admin@example.test' }),
      /signIn: the login route sent the browser to http:\/\/127\.0\.0\.1:9\/oauth2\/auth, not to the emulator/,
    );
    await elsewhere.close();
  });

  test('expireAccessToken needs the cookie signIn returned, of a live session', async () => {
    for (const cookie of ['theme=dark', 'kinde_session=%E0%A4%A', 'kinde_session=nosignature', 7]) {
      await refuses(
        () => kit.expireAccessToken(app, cookie as string),
        /pass the Cookie header signIn returned/,
      );
    }
    await refuses(
      () => kit.expireAccessToken(app, 'kinde_session=made-up.value'),
      /no session for this cookie in this app/,
    );
  });

  test('a machine token for an application whose secret the kit does not know', async () => {
    await refuses(
      () => kit.machineToken({ clientId: 'someone_else' }),
      /client_credentials needs the secret of someone_else; pass clientSecret/,
    );
  });

  test('a fault option the emulator refuses is passed on with its reason', async () => {
    await refuses(() => kit.fail('token', { mode: 'broken' as never }), /"mode" must be "down" or "slow"/);
    await refuses(() => kit.fail('nothing' as never), /endpoint must be one of token, jwks/);
  });
});

describe('starting, connecting and closing', () => {
  test('after registers the close; a closed kit says so', async () => {
    let close: (() => Promise<void>) | undefined;
    const own = await startKindeTest({ after: (fn) => (close = fn) });
    assert.equal(typeof close, 'function');
    await close?.();
    await assert.rejects(fetch(`${own.issuerUrl}/.well-known/jwks.json`), 'the emulator has stopped');
    await refuses(() => own.signIn(app), /signIn: this kit is closed/);
    await refuses(() => own.requests(), /requests: this kit is closed/);
    await own.close();
  });

  test('bad start and connect options', async () => {
    await refuses(() => startKindeTest({ after: 'afterAll' as never }), /"after" must be a function/);
    await refuses(() => startKindeTest({ siteUrl: 'ftp://x' }), /"siteUrl" must be an http\(s\) URL/);
    await refuses(
      () => connectKindeTest({} as never),
      /"issuerUrl" must be the emulator's URL, got undefined/,
    );
    const port = await freePort();
    await refuses(
      () => connectKindeTest({ issuerUrl: `http://127.0.0.1:${port}` }),
      /no Kinde emulator answers at http:\/\/127\.0\.0\.1:\d+ .*start it first/,
    );
    const emulator = await startEmulator({ port: 0 });
    try {
      await refuses(
        () => connectKindeTest({ issuerUrl: emulator.issuerUrl }),
        /emu_client_id_0001 has a secret; pass it as "clientSecret"/,
      );
      await refuses(
        () => connectKindeTest({ issuerUrl: emulator.issuerUrl, clientId: 'nope' }),
        /the emulator has no application "nope"/,
      );
    } finally {
      await emulator.close();
    }
  });
});

describe('startKindeTest({ after }) inside a before() hook', () => {
  let early: Awaited<ReturnType<typeof startKindeTest>>;
  before(async () => {
    early = await startKindeTest({ after });
  });

  test('node:test closes it when the hook ends; the error says where to call it instead', async () => {
    await refuses(() => early.signIn(app), /this kit is closed .* call it at the top level of the test file/);
  });
});
