import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, HttpClient, login, within } from './harness.js';

// What `npm start` runs: the compiled app, bundled into one module.
const main = fileURLToPath(new URL('../main.bundle.mjs', import.meta.url));

const scratch = mkdtempSync(join(tmpdir(), 'items-api-main-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function run(
  env: Record<string, string>,
  entry = main,
  cwd?: string,
): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  // The compile cache goes where the launcher puts it unless a test says otherwise.
  const {
    KINDE_ISSUER_URL: _,
    NODE_COMPILE_CACHE: __,
    NODE_DISABLE_COMPILE_CACHE: ___,
    ...inherited
  } = process.env;
  const child = spawn(process.execPath, [entry], {
    cwd,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (d) => (text += d));
  child.stderr?.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, output: () => text, exited };
}

describe('npm start (compiled main)', () => {
  test('starts the app and the embedded emulator and prints both URLs', async () => {
    const [port, emulatorPort] = [await freePort(), await freePort()];
    const app = run({ PORT: String(port), EMULATOR_PORT: String(emulatorPort) });
    try {
      await within(10_000, () => app.output().includes('Kinde emulator'), 20);
      assert.match(app.output(), new RegExp(`items API +http://127\\.0\\.0\\.1:${port}`));
      assert.match(app.output(), new RegExp(`Kinde emulator http://127\\.0\\.0\\.1:${emulatorPort}`));
      assert.match(app.output(), /admin@example\.test/);
      const response = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(response.status, 401);
      const discovery = await fetch(`http://127.0.0.1:${emulatorPort}/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200);
      // Swagger UI is bundled, with `yaml` and `mime` loaded on first use: both still answer.
      const yaml = await fetch(`http://127.0.0.1:${port}/docs/yaml`);
      assert.equal(yaml.status, 200);
      assert.match(await yaml.text(), /^openapi: 3\.0\.3\n/);
      const css = await fetch(`http://127.0.0.1:${port}/docs/static/swagger-ui.css`);
      assert.equal(css.status, 200);
      assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
      assert.ok((await css.text()).length > 1000);
    } finally {
      app.child.kill('SIGTERM');
      await app.exited;
    }
  });

  test('a session survives a restart of npm start (SQLite sessions, kept secret and emulator key)', async () => {
    const [port, emulatorPort] = [await freePort(), await freePort()];
    const env = { PORT: String(port), EMULATOR_PORT: String(emulatorPort) };
    const client = new HttpClient();
    for (const round of [1, 2]) {
      const app = run(env);
      try {
        await within(10_000, () => app.output().includes('Kinde emulator'), 20);
        if (round === 1) await login(client, `http://127.0.0.1:${port}`, 'admin@example.test');
        const answer = await client.request(`http://127.0.0.1:${port}/`);
        assert.equal(answer.status, 200, `round ${round}`);
      } finally {
        app.child.kill('SIGTERM');
        await app.exited;
      }
    }
  });

  test('a port already in use is a one-line error', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const taken = typeof address === 'object' && address ? address.port : 0;
    const app = run({ PORT: String(taken), EMULATOR_PORT: String(await freePort()) });
    const code = await app.exited;
    blocker.close();
    assert.equal(code, 1);
    const lines = app
      .output()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('error'));
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', new RegExp(`port ${taken} on 127\\.0\\.0\\.1 is already in use`));
    assert.doesNotMatch(app.output(), /\n\s+at /, 'no stack trace');
  });
  test('NODE_ENV=production is a one-line error: without KINDE_ISSUER_URL, or with an http issuer or site', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { NODE_ENV: 'production' },
        /^error: NODE_ENV=production and no KINDE_ISSUER_URL: the embedded Kinde emulator runs only in development/,
      ],
      [{ NODE_ENV: 'staging' }, /^error: NODE_ENV=staging and no KINDE_ISSUER_URL/],
      [
        {
          NODE_ENV: 'production',
          KINDE_ISSUER_URL: 'http://127.0.0.1:8001',
          KINDE_CLIENT_ID: 'c',
          KINDE_SITE_URL: 'https://app.example',
          SESSION_SECRET: 's'.repeat(32),
        },
        /^error: KINDE_ISSUER_URL \(option "issuerUrl"\) must use https in production/,
      ],
      [
        {
          NODE_ENV: 'production',
          KINDE_ISSUER_URL: 'https://acme.kinde.com',
          KINDE_CLIENT_ID: 'c',
          KINDE_SITE_URL: 'http://127.0.0.1:8000',
          SESSION_SECRET: 's'.repeat(32),
        },
        /^error: KINDE_SITE_URL \(option "siteUrl"\) must use https in production/,
      ],
    ];
    for (const [env, message] of cases) {
      const app = run({ PORT: String(await freePort()), EMULATOR_PORT: String(await freePort()), ...env });
      const code = await Promise.race([app.exited, new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
      if (code === 'hung') app.child.kill('SIGKILL');
      assert.equal(code, 1, JSON.stringify(env));
      const lines = app.output().trim().split('\n');
      assert.equal(lines.length, 1, app.output());
      assert.match(lines[0] ?? '', message);
    }
  });
});

describe("npm start: Node's compile cache", () => {
  /**
   * A copy of the two bundle files in a scratch package (its node_modules links the one package the
   * bundle finds at run time), so that the cache made is this run's own.
   */
  function scratchPackage(): string {
    const pkg = mkdtempSync(join(tmpdir(), 'items-api-compile-cache-'));
    mkdirSync(join(pkg, 'dist'));
    for (const file of ['main.bundle.mjs', 'app.bundle.mjs'])
      cpSync(join(dirname(main), file), join(pkg, 'dist', file));
    const swaggerUi = dirname(createRequire(main).resolve('@fastify/swagger-ui/package.json'));
    mkdirSync(join(pkg, 'node_modules', '@fastify'), { recursive: true });
    symlinkSync(swaggerUi, join(pkg, 'node_modules', '@fastify', 'swagger-ui'), 'dir');
    return pkg;
  }

  async function startAndStop(pkg: string, env: Record<string, string> = {}): Promise<void> {
    const [port, emulatorPort] = [await freePort(), await freePort()];
    const app = run(
      { PORT: String(port), EMULATOR_PORT: String(emulatorPort), ...env },
      join(pkg, 'dist', 'main.bundle.mjs'),
      pkg,
    );
    try {
      await within(10_000, () => app.output().includes('Kinde emulator'), 20);
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 401);
    } finally {
      app.child.kill('SIGTERM');
      await app.exited;
    }
  }

  /** The cache files written under `dir` (one directory per Node version and V8 flags). */
  function cacheFiles(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) =>
      statSync(join(dir, f)).isFile(),
    );
  }

  /** Starts the app once more and checks that the cache in `dir` still holds `files`, none rewritten. */
  async function assertStartWritesNothing(pkg: string, dir: string, files: string[], message?: string) {
    const written = files.map((f) => statSync(join(dir, f)).mtimeMs);
    await startAndStop(pkg);
    assert.deepEqual(cacheFiles(dir), files, message);
    assert.deepEqual(
      files.map((f) => statSync(join(dir, f)).mtimeMs),
      written,
    );
  }

  test('is written to node_modules/.cache/items-api/compile of the package, and used by the next start', async () => {
    const pkg = scratchPackage();
    try {
      const dir = join(pkg, 'node_modules', '.cache', 'items-api', 'compile');
      await startAndStop(pkg);
      const files = cacheFiles(dir);
      assert.ok(files.length >= 1, `a cache entry in ${dir}`);
      assert.ok(
        files.every((f) => statSync(join(dir, f)).size > 10_000),
        'the entries hold compiled code',
      );
      // The second start finds its entry: nothing is written again.
      await assertStartWritesNothing(pkg, dir, files);
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });

  test('the build writes it (scripts/prime-compile-cache.mjs) without running the app, and the first start uses it', async () => {
    const pkg = scratchPackage();
    try {
      const dir = join(pkg, 'node_modules', '.cache', 'items-api', 'compile');
      const primer = fileURLToPath(new URL('../../scripts/prime-compile-cache.mjs', import.meta.url));
      const primed = spawn(process.execPath, [primer, join(pkg, 'dist', 'app.bundle.mjs'), dir], {
        cwd: pkg,
        stdio: 'inherit',
      });
      assert.equal(await new Promise((resolve) => primed.on('exit', resolve)), 0);
      assert.ok(!existsSync(join(pkg, '.data')), 'the app did not run');
      const files = cacheFiles(dir);
      const bundleEntry = files.filter((f) => statSync(join(dir, f)).size > 100_000);
      assert.equal(bundleEntry.length, 1, `the bundle's entry in ${dir}: ${files.join(', ')}`);
      await assertStartWritesNothing(pkg, dir, files, 'the first start wrote no entry of its own');
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });

  test('NODE_DISABLE_COMPILE_CACHE=1 turns it off, NODE_COMPILE_CACHE moves it', async () => {
    const pkg = scratchPackage();
    try {
      const dir = join(pkg, 'node_modules', '.cache', 'items-api', 'compile');
      await startAndStop(pkg, { NODE_DISABLE_COMPILE_CACHE: '1' });
      assert.deepEqual(cacheFiles(dir), []);
      const elsewhere = join(pkg, 'elsewhere');
      await startAndStop(pkg, { NODE_COMPILE_CACHE: elsewhere });
      assert.deepEqual(cacheFiles(dir), []);
      assert.ok(cacheFiles(elsewhere).length >= 1, `a cache entry in ${elsewhere}`);
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });
});
