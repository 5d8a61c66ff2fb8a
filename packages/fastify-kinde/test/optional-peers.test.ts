/**
 * An app that installed fastify-kinde without its optional store clients (better-sqlite3, ioredis,
 * pg): the package loads, the default store works, and a store whose client is missing says which
 * package to install. The built package is copied outside the repository, next to links to its
 * required dependencies only, so the repository's own node_modules cannot lend it the rest.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PACKAGE = fileURLToPath(new URL('../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const OPTIONAL = ['better-sqlite3', 'ioredis', 'pg'];

/** The folder of `name`'s package.json, wherever the workspace hoisted it. */
function packageFolder(name: string): string {
  let folder = dirname(createRequire(join(PACKAGE, 'package.json')).resolve(name));
  while (!folder.endsWith(join('node_modules', name))) folder = dirname(folder);
  return folder;
}

/** A scratch app: node_modules/fastify-kinde (a copy) and links to the required dependencies. */
function scratchApp(): string {
  const app = mkdtempSync(join(tmpdir(), 'kinde-optional-peers-'));
  const modules = join(app, 'node_modules');
  const own = join(modules, 'fastify-kinde');
  mkdirSync(own, { recursive: true });
  cpSync(join(PACKAGE, 'package.json'), join(own, 'package.json'));
  cpSync(join(PACKAGE, 'dist', 'src'), join(own, 'dist', 'src'), { recursive: true });
  for (const name of [...Object.keys(manifest.dependencies), 'fastify']) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(packageFolder(name), join(modules, name), 'dir');
  }
  return app;
}

const SCRIPT = `
import { postgresSessionStore, redisSessionStore, sqliteSessionStore } from 'fastify-kinde';
const outcome = (make) => {
  try {
    const store = make();
    store.close?.();
    return 'ok';
  } catch (error) {
    return error.code + ': ' + error.message;
  }
};
console.log(JSON.stringify({
  sqliteDefault: outcome(() => sqliteSessionStore({ path: ':memory:' })),
  betterSqlite3: outcome(() => sqliteSessionStore({ path: ':memory:', driver: 'better-sqlite3' })),
  redis: outcome(() => redisSessionStore({ url: 'redis://127.0.0.1:1' })),
  postgres: outcome(() => postgresSessionStore({ connectionString: 'postgres://127.0.0.1:1/none' })),
}));
`;

describe('an app without the optional store clients', () => {
  const app = scratchApp();
  after(() => rmSync(app, { recursive: true, force: true }));

  test('they are optional peers, not dependencies', () => {
    for (const name of OPTIONAL) {
      assert.equal(manifest.dependencies[name], undefined, name);
      assert.equal(manifest.peerDependenciesMeta[name]?.optional, true, name);
    }
  });

  test('imports fastify-kinde, opens the default SQLite store, and is told what to install for the others', () => {
    const { NODE_PATH: _, SESSION_SQLITE_DRIVER: __, ...env } = process.env;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: app,
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      sqliteDefault: 'ok',
      betterSqlite3:
        'ERR_CONFIG: The SQLite session store\'s driver "better-sqlite3" needs the "better-sqlite3" package: npm install better-sqlite3 (and allow its install script: npm install-scripts approve better-sqlite3), or use the built-in driver "node:sqlite"',
      redis: 'ERR_CONFIG: The Redis session store needs the "ioredis" package: npm install ioredis',
      postgres: 'ERR_CONFIG: The PostgreSQL session store needs the "pg" package: npm install pg',
    });
  });
});

describe('an app whose better-sqlite3 install script did not run (npm 12 without allowScripts)', () => {
  const app = scratchApp();
  after(() => rmSync(app, { recursive: true, force: true }));

  test('the better-sqlite3 driver says to rebuild it with its script allowed', () => {
    // The package as npm leaves it when it skips the install script: everything but the built addon.
    const target = join(app, 'node_modules', 'better-sqlite3');
    const source = packageFolder('better-sqlite3');
    for (const entry of ['package.json', 'lib'])
      cpSync(join(source, entry), join(target, entry), { recursive: true });
    const own = createRequire(join(source, 'package.json'));
    for (const name of ['bindings', 'file-uri-to-path']) {
      let folder = dirname(own.resolve(name));
      while (!folder.endsWith(join('node_modules', name))) folder = dirname(folder);
      symlinkSync(folder, join(app, 'node_modules', name), 'dir');
    }
    const { NODE_PATH: _, SESSION_SQLITE_DRIVER: __, ...env } = process.env;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: app,
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const outcome = JSON.parse(run.stdout) as Record<string, string>;
    assert.equal(outcome.sqliteDefault, 'ok');
    assert.equal(
      outcome.betterSqlite3,
      `ERR_CONFIG: better-sqlite3 is installed but its native addon does not load in Node.js ${process.version} (built for another Node, or its install script did not run): npm rebuild better-sqlite3, with its install script allowed (npm install-scripts approve better-sqlite3)`,
    );
  });
});
