/**
 * Library manners: registering the plugin reads no `.env` file and changes nothing about how the
 * server closes; both are the app's choices (`process.loadEnvFile()`, `closeIdleConnections`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { resolveConfig } from '../src/config.js';
import fastifyKinde, { type KindeOptions } from '../src/index.js';

const BASE: KindeOptions = {
  issuerUrl: 'http://127.0.0.1:1',
  clientId: 'c',
  siteUrl: 'http://127.0.0.1:2',
  sessionSecret: 'test-session-secret-0123456789abcdef',
  sessionStore: 'memory',
  env: {},
};

describe('no .env side effect', () => {
  test('a .env file in the working directory is not read; process.loadEnvFile is the way in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kinde-dotenv-'));
    const cwd = process.cwd();
    const before = process.env.KINDE_SCOPE;
    try {
      writeFileSync(join(dir, '.env'), 'KINDE_SCOPE=openid from-dotenv\n');
      process.chdir(dir);
      const { env: _, ...fromProcess } = BASE;
      assert.equal(resolveConfig(fromProcess).scope, before ?? 'openid profile email offline');
      if (before === undefined) {
        process.loadEnvFile('.env');
        assert.equal(resolveConfig(fromProcess).scope, 'openid from-dotenv', 'once the app loads it');
      }
    } finally {
      process.chdir(cwd);
      if (before === undefined) delete process.env.KINDE_SCOPE;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** An app with a slow route on a real port, and a keep-alive request to it that is in flight. */
async function closingDuringRequest(options: Partial<KindeOptions>) {
  const app = Fastify();
  await app.register(fastifyKinde, { ...BASE, ...options });
  let started: () => void = () => {};
  const inRoute = new Promise<void>((resolve) => {
    started = resolve;
  });
  app.get('/slow', async () => {
    started();
    await sleep(200);
    return { done: true };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const agent = new http.Agent({ keepAlive: true });
  const answer = new Promise<number>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/slow', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
  await inRoute;
  let closed = false;
  const closing = app.close().then(() => {
    closed = true;
  });
  return { answer, closing, agent, isClosed: () => closed };
}

describe('closeIdleConnections', () => {
  test('true: close() ends once the in-flight request is answered, though the client keeps the connection', {
    timeout: 10_000,
  }, async () => {
    const run = await closingDuringRequest({ closeIdleConnections: true });
    try {
      assert.equal(await run.answer, 200, 'the in-flight request finished');
      await run.closing;
    } finally {
      run.agent.destroy();
    }
  });

  test('default: the plugin leaves the idle keep-alive connection to the app (close waits for it)', {
    timeout: 10_000,
  }, async () => {
    const run = await closingDuringRequest({});
    try {
      assert.equal(await run.answer, 200);
      // Several periods of the reaper that `true` would run: nothing closes the idle connection.
      await sleep(300);
      assert.equal(run.isClosed(), false, 'close() still waits for the client');
    } finally {
      run.agent.destroy();
    }
    await run.closing;
  });

  test('must be a boolean', () => {
    assert.throws(
      () => resolveConfig({ ...BASE, closeIdleConnections: 'yes' as unknown as boolean }),
      /"closeIdleConnections" must be true or false/,
    );
    assert.equal(resolveConfig(BASE).closeIdleConnections, false);
  });
});
