import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createEmulator, type Emulator, startEmulator } from '../src/index.js';
import { authUrl, baseAuthParams, CLIENT_SECRET, exchangeCode, login } from './helpers.js';

/** One HTTP request with a chosen Host header (fetch does not let a caller set it). */
function withHost(
  url: string,
  host: string,
  method = 'GET',
  body?: string,
): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method,
        headers: {
          host,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
        timeout: 5_000,
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

async function withNodeEnv<T>(value: string | undefined, run: () => Promise<T>): Promise<T> {
  const previous = process.env.NODE_ENV;
  if (value === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = value;
  try {
    return await run();
  } finally {
    if (previous === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = previous;
  }
}

describe('the emulator is not reachable by others by accident', () => {
  test('runs only when NODE_ENV is unset, development or test', async () => {
    for (const env of ['production', 'staging', 'PRODUCTION', 'prod', 'Development']) {
      await withNodeEnv(env, () =>
        assert.rejects(
          createEmulator(),
          new RegExp(`refuses to run with NODE_ENV=${env}: it runs only when`),
        ),
      );
    }
    for (const env of [undefined, '', 'development', 'test']) {
      const emu = await withNodeEnv(env, () => createEmulator());
      await emu.close();
    }
  });

  test('refuses a non-loopback bind unless allowRemote is set, and then warns', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      await assert.rejects(
        createEmulator({ host }),
        new RegExp(`refuses to listen on ${host.replaceAll('.', '\\.')}:`),
      );
    }
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      const emu = await createEmulator({ host });
      await emu.close();
    }
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const emu = await startEmulator({ port: 0, host: '0.0.0.0', allowRemote: true });
      await emu.close();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.name, 'KindeEmulatorWarning');
    assert.match(warnings[0]?.message ?? '', /listens on 0\.0\.0\.0: any machine that reaches it/);
  });

  describe('a Host that is not the emulator gets 421 on the control, sign-in and token routes', () => {
    let emu: Emulator;
    let port: string;
    before(async () => {
      emu = await startEmulator({ port: 0 });
      port = new URL(emu.issuerUrl).port;
    });
    after(() => emu.close());

    const routes = (): [string, string, string?][] => [
      ['GET', '/_emulator/clock'],
      ['POST', '/_emulator/reset', '{}'],
      ['GET', '/_emulator/requests'],
      [
        'GET',
        new URL(authUrl(emu, baseAuthParams())).pathname + new URL(authUrl(emu, baseAuthParams())).search,
      ],
      ['GET', '/logout'],
      ['GET', '/portal'],
      ['POST', '/oauth2/token', '{}'],
      ['GET', '/oauth2/v2/user_profile'],
    ];

    test('foreign host names are refused', async () => {
      const foreign = [
        `evil.example:${port}`,
        'evil.example',
        `127.0.0.1.evil.example:${port}`,
        `localhost.:${port}`,
        `sub.localhost:${port}`,
        `127.0.0.1@evil.example:${port}`,
        `evil.example/x:${port}`,
      ];
      for (const [method, path, body] of routes()) {
        for (const host of foreign) {
          const answer = await withHost(`${emu.issuerUrl}${path}`, host, method, body);
          assert.equal(answer.status, 421, `${method} ${path} with Host ${host}`);
          assert.match(answer.body, /DNS rebinding/);
        }
      }
      const login = await withHost(
        `${emu.issuerUrl}/oauth2/auth/login`,
        `evil.example:${port}`,
        'POST',
        '{}',
      );
      assert.equal(login.status, 421);
    });

    test('the issuer host, IP literals and localhost are served', async () => {
      for (const [method, path, body] of routes()) {
        for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
          const answer = await withHost(`${emu.issuerUrl}${path}`, host, method, body);
          assert.notEqual(answer.status, 421, `${method} ${path} with Host ${host}`);
          assert.ok(answer.status < 500, `${method} ${path}: ${answer.status}`);
        }
      }
    });

    test('discovery and JWKS, which hold nothing secret, answer whatever the Host', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/jwks.json']) {
        assert.equal((await withHost(`${emu.issuerUrl}${path}`, 'evil.example')).status, 200, path);
      }
    });

    test('the issuerUrl option names an accepted host', async () => {
      const named = await startEmulator({ port: 0, issuerUrl: 'http://emulator.test:8001' });
      try {
        const url = `http://127.0.0.1:${named.app.server.address() && (named.app.server.address() as { port: number }).port}/_emulator/clock`;
        assert.equal((await withHost(url, 'emulator.test:8001')).status, 200);
        assert.equal((await withHost(url, 'other.test:8001')).status, 421);
      } finally {
        await named.close();
      }
    });
  });

  test('the request log keeps id_token_hint, codes, tokens and secrets out', async () => {
    const emu = await startEmulator({ port: 0 });
    try {
      const r = await login(emu, 'admin@example.test', baseAuthParams({ login_hint: 'admin@example.test' }));
      const t = await exchangeCode(emu, r.code);
      const idToken = String(t.body.id_token);
      const accessToken = String(t.body.access_token);
      await fetch(`${emu.issuerUrl}/logout?id_token_hint=${idToken}&redirect=http://127.0.0.1:1/`, {
        redirect: 'manual',
      });
      await fetch(
        `${emu.issuerUrl}/oauth2/user_profile?access_token=${accessToken}&code=${r.code}&client_secret=${CLIENT_SECRET}&code_verifier=v-secret-123&password=p-secret-456`,
      );
      const logged = JSON.stringify(await (await fetch(`${emu.issuerUrl}/_emulator/requests`)).json());
      for (const secret of [idToken, accessToken, r.code, CLIENT_SECRET, 'v-secret-123', 'p-secret-456']) {
        assert.equal(logged.includes(secret), false, 'a credential is in the request log');
      }
      const logout = emu.requests.find((e) => e.path === '/logout');
      assert.deepEqual(logout?.query, { id_token_hint: '[redacted]', redirect: 'http://127.0.0.1:1/' });
      const auth = emu.requests.find((e) => e.path === '/oauth2/auth');
      assert.equal(auth?.query?.login_hint, 'admin@example.test', 'what is not a credential is kept');
    } finally {
      await emu.close();
    }
  });
});
