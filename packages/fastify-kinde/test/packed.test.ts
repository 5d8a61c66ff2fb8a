/**
 * The packages as a user meets them: `npm pack` both workspaces (running their `prepack` build),
 * check the tarballs (files, metadata, source maps with their sources, publint, attw), install them
 * into a scratch app outside the repository, type-check it under node16, nodenext and bundler
 * resolution (ES module, CommonJS `require`, checked JavaScript), compile and bundle it, start every
 * variant against `npx kinde-emulator` from its tarball, and sign in end to end over HTTP.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { freePort, HttpClient, login } from 'test-kit';
import { scratchFiles } from './packed-apps.js';
import { inspect, type Manifest, moduleSubpaths, pack, run, type Started, start } from './packed-kit.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = (pkg: string, path: string) => join(ROOT, 'node_modules', pkg, path);
const version = (pkg: string) =>
  (JSON.parse(readFileSync(BIN(pkg, 'package.json'), 'utf8')) as { version: string }).version;

test('the packed packages install, type-check, bundle and sign in outside the repository', {
  timeout: 600_000,
}, async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), 'fastify-kinde-packed-'));
  const running: Started[] = [];
  t.after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    rmSync(scratch, { recursive: true, force: true });
  });
  const tarballs = join(scratch, 'tarballs');
  mkdirSync(tarballs);
  const kinde = pack(join(ROOT, 'packages', 'fastify-kinde'), tarballs);
  const emulator = pack(join(ROOT, 'packages', 'kinde-emulator'), tarballs);
  const app = join(scratch, 'app');
  const manifests: Manifest[] = [];

  await t.test('the tarballs hold what a user needs and nothing of the repository', () => {
    for (const packed of [kinde, emulator]) {
      const { manifest, problems } = inspect(packed, join(scratch, 'unpacked', packed.name));
      manifests.push(manifest);
      t.diagnostic(
        `${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.files.length} files`,
      );
      assert.deepEqual(problems, [], `${packed.name}`);
    }
  });

  await t.test('publint and @arethetypeswrong/cli report no problem', () => {
    for (const packed of [kinde, emulator]) {
      // --strict: warnings fail too. attw's esm-only profile: these packages are ES modules only,
      // so the legacy node10 resolution and TypeScript's node16-from-CommonJS mode (which cannot
      // model require() of an ES module) are not checked; the type tests below cover CommonJS.
      const publint = run(
        process.execPath,
        [BIN('publint', 'src/cli.js'), 'run', packed.tarball, '--strict'],
        ROOT,
      );
      assert.match(publint, /All good!/, publint);
      run(
        process.execPath,
        [BIN('@arethetypeswrong/cli', 'dist/index.js'), packed.tarball, '--profile', 'esm-only'],
        ROOT,
      );
    }
  });

  await t.test('npm installs the tarballs into a scratch app outside the workspace', () => {
    assert.ok(!scratch.startsWith(ROOT), 'the scratch app is outside the repository');
    const subpaths = manifests.flatMap(moduleSubpaths).filter((s) => s.startsWith('fastify-kinde/'));
    for (const [path, text] of Object.entries(scratchFiles(subpaths))) {
      mkdirSync(dirname(join(app, path)), { recursive: true });
      writeFileSync(join(app, path), text);
    }
    const deps = [
      kinde.tarball,
      emulator.tarball,
      `fastify@${version('fastify')}`,
      `@types/node@${version('@types/node')}`,
    ];
    run('npm', ['install', ...deps, '--prefer-offline', '--no-audit', '--no-fund'], app, 400_000);
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/fastify-kinde/package.json'), 'utf8'));
    assert.equal(installed.version, manifests[0]?.version);
    assert.ok(
      !existsSync(join(app, 'node_modules/test-kit')),
      'no workspace package leaked into the install',
    );
  });

  const tsc = (project: string) =>
    run(process.execPath, [BIN('typescript', 'bin/tsc'), '-p', join(app, project)], app);

  await t.test(
    'types: nodenext (ES module, CommonJS require, checked JavaScript), node16 and bundler',
    () => {
      // Each project fails to compile if request.kinde / app.kinde are not augmented, or are `any`.
      tsc('ts');
      tsc('ts-node16');
      tsc('ts-bundler');
      assert.ok(
        !['ioredis', 'pg', 'better-sqlite3'].some((peer) => existsSync(join(app, 'node_modules', peer))),
        'the optional peers are not installed',
      );
      tsc('ts-libcheck');
      assert.ok(existsSync(join(app, 'ts/dist/app.mjs')) && existsSync(join(app, 'ts/dist/require.cjs')));
    },
  );

  await t.test('esbuild bundles the ES module app with fastify-kinde inside', async () => {
    const result = await build({
      absWorkingDir: app,
      entryPoints: ['esm/app.mjs'],
      outfile: 'bundle/app.mjs',
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      metafile: true,
      // The store clients load only when their store is used, and native addons cannot be bundled.
      external: ['better-sqlite3', 'ioredis', 'pg'],
      banner: {
        js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
      logLevel: 'silent',
    });
    assert.ok(
      Object.keys(result.metafile.inputs).some((f) =>
        f.includes('node_modules/fastify-kinde/dist/src/plugin.js'),
      ),
    );
  });

  const emu = await start(
    'npx',
    ['kinde-emulator', '--port', '0', '--ephemeral-keys'],
    app,
    {},
    /listening on (\S+)[\s\S]*KINDE_CLIENT_ID=(\S+)\nKINDE_CLIENT_SECRET=(\S+)\n/,
  );
  running.push(emu);
  const [, issuer = '', clientId = '', clientSecret = ''] = emu.match;

  const variants: Array<[string, string]> = [
    ['esm', 'esm/app.mjs'],
    ['cjs', 'cjs/app.cjs'],
    ['ts-esm', 'ts/dist/app.mjs'],
    ['ts-cjs', 'ts/dist/require.cjs'],
    ['bundle', 'bundle/app.mjs'],
  ];
  for (const [variant, entry] of variants) {
    await t.test(`${variant}: signs in through npx kinde-emulator over HTTP`, async () => {
      const port = await freePort();
      const site = `http://127.0.0.1:${port}`;
      const env = {
        VARIANT: variant,
        PORT: String(port),
        KINDE_ISSUER_URL: issuer,
        KINDE_CLIENT_ID: clientId,
        KINDE_CLIENT_SECRET: clientSecret,
        KINDE_SITE_URL: site,
        SESSION_SECRET: randomBytes(32).toString('hex'),
        SESSION_SQLITE_PATH: join(app, '.data', `${variant}.db`),
      };
      const server = await start(process.execPath, [entry], app, env, /^ready (\S+)/m);
      running.push(server);
      assert.equal(server.match[1], process.version, 'the app runs on the Node that runs the tests');
      try {
        const client = new HttpClient();
        assert.equal((await client.request(`${site}/`)).status, 401);
        const hops = await login(client, site, 'admin@example.test');
        const last = hops.at(-1)!;
        assert.equal(last.status, 200, `${last.url}: ${last.body}\n${server.output()}`);
        assert.equal(last.url, `${site}/`);
        assert.deepEqual(JSON.parse(last.body).email, 'admin@example.test');
        assert.equal(JSON.parse(last.body).variant, variant);
      } finally {
        await server.stop();
      }
    });
  }
});
