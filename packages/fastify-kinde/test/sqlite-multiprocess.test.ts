/**
 * Several Node processes on one SQLite file (cluster mode, PM2, a second `npm start`): each runs the
 * real plugin on the real store (test/sqlite-app.ts), against one real emulator in this process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startEmulator } from 'kinde-emulator';
import { freePort, HttpClient, login } from 'test-kit';
import type { SqliteDriverName } from '../src/index.js';

const FIXTURE = fileURLToPath(new URL('./sqlite-app.js', import.meta.url));
const START_TIMEOUT_MS = 20_000;

interface Instance {
  url: string;
  child: ChildProcess;
}

/** Forks one app process on `path`; resolves when it listens, rejects (with its stderr) when it cannot. */
async function startInstance(issuerUrl: string, path: string, driver: SqliteDriverName): Promise<Instance> {
  const port = await freePort();
  const child = fork(FIXTURE, [issuerUrl, path, String(port), driver], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the app process ended (${code}): ${stderr}`));
    });
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

async function stopInstance({ child }: Instance): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Moves every process's clock by `ms`; resolves once each has said so (within 5 s). */
async function advanceInstances(instances: Instance[], ms: number): Promise<void> {
  await Promise.all(
    instances.map(
      ({ child }) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('an app process did not move its clock')), 5_000);
          child.once('message', () => {
            clearTimeout(timer);
            resolve();
          });
          child.send({ advanceMs: ms });
        }),
    ),
  );
}

async function get(url: string, cookie: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, {
    headers: { cookie },
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.text() };
}

/** The statuses of `path` on every instance, asked at once. */
function everywhere(instances: Instance[], path: string, cookie: string): Promise<number[]> {
  return Promise.all(instances.map(async (i) => (await get(`${i.url}${path}`, cookie)).status));
}

/** A new session through instance `via`: its cookie header and its id. */
async function signIn(via: Instance): Promise<{ cookie: string; id: string }> {
  const client = new HttpClient();
  await login(client, via.url, 'admin@example.test');
  const value = client.cookies(via.url).get('kinde_session');
  assert.ok(value, 'signed in');
  const signed = decodeURIComponent(value);
  return { cookie: `kinde_session=${value}`, id: signed.slice(0, signed.lastIndexOf('.')) };
}

// Two processes on the default driver; four alternating between the drivers, on one file.
const RUNS: { count: number; drivers: SqliteDriverName[] }[] = [
  { count: 2, drivers: ['node:sqlite'] },
  { count: 4, drivers: ['node:sqlite', 'better-sqlite3'] },
];

for (const { count, drivers } of RUNS) {
  describe(`${count} processes on one SQLite file (${drivers.join(' and ')})`, () => {
    let emulator: Awaited<ReturnType<typeof startEmulator>>;
    let dir: string;
    let path: string;
    let instances: Instance[] = [];
    /** How far the app processes' and the emulator's clocks were moved. */
    let offsetMs = 0;

    /** Moves time for every process and the emulator until a JWT has expired (its `exp`, plus a margin). */
    async function untilExpired(token: string): Promise<void> {
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        exp: number;
      };
      const ms = Math.max(0, exp * 1000 - (Date.now() + offsetMs)) + 100;
      await advanceInstances(instances, ms);
      emulator.control.advanceClock(ms / 1000);
      offsetMs += ms;
    }

    /** Whether a live row for session `id` is in the file, read through a connection of the test's own. */
    const rowExists = (id: string) => {
      const db = new Database(path, { readonly: true });
      try {
        const row = db
          .prepare('SELECT 1 FROM kinde_sessions WHERE id = ? AND expires_at > ?')
          .get(`sess:${id}`, Date.now() + offsetMs);
        return row !== undefined;
      } finally {
        db.close();
      }
    };

    before(async () => {
      emulator = await startEmulator({ port: 0 });
      dir = mkdtempSync(join(tmpdir(), 'kinde-sqlite-'));
      path = join(dir, 'sessions.db');
      // All at once on a new file, as a cluster starts.
      instances = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          startInstance(emulator.issuerUrl, path, drivers[i % drivers.length]!),
        ),
      );
    });
    after(async () => {
      await Promise.all(instances.map(stopInstance));
      await emulator?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('a logout in one process is seen by every process on its next request', async () => {
      const { cookie } = await signIn(instances[0]!);
      for (let round = 0; round < 2; round++) {
        assert.deepEqual(
          await everywhere(instances, '/', cookie),
          Array(count).fill(200),
          'signed in everywhere',
        );
      }
      const logout = await get(`${instances.at(-1)!.url}/api/auth/logout`, cookie);
      assert.equal(logout.status, 302);
      assert.deepEqual(
        await everywhere(instances, '/', cookie),
        Array(count).fill(401),
        'signed out everywhere',
      );
    });

    test('a process holding the session in its cache cannot bring it back after a logout elsewhere', async () => {
      const { cookie, id } = await signIn(instances[0]!);
      // Every process reads (and caches) the session; none has fetched the profile yet.
      assert.deepEqual(await everywhere(instances, '/', cookie), Array(count).fill(200));
      assert.equal((await get(`${instances[0]!.url}/api/auth/logout`, cookie)).status, 302);
      // A profile fetch stores the session again: it must not write the deleted row back.
      const statuses: number[] = [];
      for (const instance of instances.slice(1))
        statuses.push((await get(`${instance.url}/profile`, cookie)).status);
      assert.equal(rowExists(id), false, 'the row stays deleted');
      assert.deepEqual(
        statuses,
        Array(count - 1).fill(401),
        'no process serves the profile of a deleted session',
      );
      assert.deepEqual(
        await everywhere(instances, '/', cookie),
        Array(count).fill(401),
        'and signed out everywhere',
      );
    });

    test('one refresh per expiry across every process', async () => {
      // Two-second access tokens for sessions made from now on.
      emulator.context.lifetimeOverrides.accessToken = 2;
      try {
        const { cookie } = await signIn(instances[0]!);
        const refreshes = () => emulator.requests.filter((r) => r.grantType === 'refresh_token').length;
        const deltas: number[] = [];
        // The sign-in's own redirect to `/` may have refreshed already: start once that token expired.
        await untilExpired(JSON.parse((await get(`${instances[0]!.url}/`, cookie)).body).token);
        for (let round = 0; round < 3; round++) {
          const before = refreshes();
          // Three requests to every process at once, the moment the token needs a refresh.
          const answers = await Promise.all(
            instances.flatMap((i) => [0, 1, 2].map(() => get(`${i.url}/`, cookie))),
          );
          assert.deepEqual(
            answers.map((a) => a.status),
            Array(count * 3).fill(200),
            `round ${round}: every request is served`,
          );
          const tokens = new Set(answers.map((a) => (JSON.parse(a.body) as { token: string }).token));
          assert.equal(tokens.size, 1, `round ${round}: every process serves the same token`);
          deltas.push(refreshes() - before);
          await untilExpired([...tokens][0]!);
        }
        assert.deepEqual(deltas, [1, 1, 1], 'one refresh per round');
      } finally {
        delete emulator.context.lifetimeOverrides.accessToken;
      }
    });
  });
}
