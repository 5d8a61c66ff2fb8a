// Bundles the compiled app into one ES module for `npm start` (dist/app.bundle.mjs, loaded by the small
// dist/main.bundle.mjs written at the end): a cold start then parses one file instead of resolving and
// loading several hundred modules (about 100 ms less to the first answer on a 2-core machine). Packages
// that find files next to themselves stay external, or are told where their installed files are
// (@fastify/swagger-ui, below). bench/README.md ("Start-up") has what each step here saves.
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { build } from 'esbuild';

/**
 * @fastify/swagger-ui serves Swagger UI's files from `__dirname`, which a bundle does not have: its two
 * modules that use it get the directory of the installed package instead, found at run time as Node
 * would find it. Bundled rather than external, it no longer loads its own copy of `yaml` and its
 * @fastify/static through Node's CommonJS loader at start (about 9% of the time to the first answer).
 */
const swaggerUiDirname = {
  name: 'swagger-ui-dirname',
  setup(build) {
    build.onLoad({ filter: /[\\/]@fastify[\\/]swagger-ui[\\/](index|lib[\\/]routes)\.js$/ }, async (args) => {
      const inLib = args.path.endsWith('routes.js');
      const contents = await readFile(args.path, 'utf8');
      const dir = `require('node:path').dirname(require.resolve('@fastify/swagger-ui/package.json'))`;
      return {
        contents: `const __dirname = ${inLib ? `require('node:path').join(${dir}, 'lib')` : dir};\n${contents}`,
        loader: 'js',
      };
    });
  },
};

/**
 * Modules that the Swagger plugins load at start but use only for some requests: `yaml` (`/docs/yaml`),
 * `mime` (content types of Swagger UI's static files)
 * and `glob` (which @fastify/static calls only with `wildcard: false`, never here). Each is replaced by
 * a stand-in that loads the real module, still bundled, on first use: its initialisation (`yaml`
 * builds its schema tables, `mime` its type map) then costs nothing at start. A property set before
 * that (@fastify/static sets `mime.default_type`) is kept and applied to the real module.
 */
const LAZY = {
  yaml: 'proxy',
  mime: 'proxy',
  // @fastify/static takes `glob` out of the module at load: a function that loads it when called.
  glob: 'glob',
};
const lazyModules = {
  name: 'lazy-modules',
  setup(build) {
    build.onResolve({ filter: /^(yaml|mime|glob)$/ }, async (args) => {
      if (args.pluginData?.real) return undefined;
      const real = await build.resolve(args.path, {
        resolveDir: args.resolveDir,
        kind: args.kind,
        importer: args.importer,
        pluginData: { real: true },
      });
      if (real.errors.length > 0) return { errors: real.errors };
      // Relative, as esbuild names every other module in the bundle's comments.
      return {
        path: relative(process.cwd(), real.path),
        namespace: 'lazy',
        pluginData: { kind: LAZY[args.path] },
      };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => {
      const path = JSON.stringify(resolve(args.path));
      const load = `() => require(${path})`;
      const contents =
        args.pluginData.kind === 'glob'
          ? `const load = ${load};\nmodule.exports = { glob: (...a) => load().glob(...a) };\n`
          : `let real;
const early = {};
const load = () => {
  if (real === undefined) {
    real = require(${path});
    Object.assign(real, early);
  }
  return real;
};
module.exports = new Proxy(early, {
  get: (_, key) => (real === undefined && Object.hasOwn(early, key) ? early[key] : load()[key]),
  set: (_, key, value) => {
    if (real === undefined) early[key] = value;
    else real[key] = value;
    return true;
  },
  has: (_, key) => key in load(),
  ownKeys: () => [...new Set([...Reflect.ownKeys(load()), ...Reflect.ownKeys(early)])],
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d === undefined ? Reflect.getOwnPropertyDescriptor(early, key) : { ...d, configurable: true };
  },
});
`;
      return { contents, loader: 'js', resolveDir: '/' };
    });
  },
};

await build({
  entryPoints: ['dist/src/main.js'],
  outfile: 'dist/app.bundle.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  sourcemap: 'linked',
  // better-sqlite3 loads its native addon; ioredis, pg and better-sqlite3 are optional peers of
  // fastify-kinde, loaded only for their store.
  external: ['better-sqlite3', 'ioredis', 'pg'],
  plugins: [swaggerUiDirname, lazyModules],
  // Licence comments go to app.bundle.mjs.LEGAL.txt: one of them has a non-ASCII letter, which made V8
  // hold the whole 2.8 MB source as a two-byte string (5.6 MB, and slower to scan) instead of ASCII.
  legalComments: 'linked',
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

/**
 * `npm start`'s entry. Node's on-disk compile cache keeps V8's code for the bundle (its top level and
 * the functions V8 compiles eagerly) between starts, so a start reads it instead of compiling the
 * 2.8 MB bundle (that compile was 13% of the time to the first answer). This build writes it (below);
 * without that, the first start of a new bundle would compile it and write the cache when it exits,
 * slower than a start without a cache. It lives in the package's
 * node_modules/.cache/items-api/compile, as build tools keep theirs, not in the working directory;
 * Node's own NODE_COMPILE_CACHE=dir moves it, NODE_DISABLE_COMPILE_CACHE=1 turns it off. Where the
 * folder cannot be made, Node reports it in the returned status and the app starts without it. It
 * must be turned on before the bundle is loaded, hence this second, small module.
 */
const launcher = `// Written by scripts/bundle.mjs: the compile cache on, then the app (see there).
import module from 'node:module';
import { fileURLToPath } from 'node:url';

module.enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/items-api/compile', import.meta.url)));
await import('./app.bundle.mjs');
`;
await writeFile('dist/main.bundle.mjs', launcher);

// The cache for the new bundle is written now, so the first `npm start` after a build finds it too.
spawnSync(
  process.execPath,
  ['scripts/prime-compile-cache.mjs', 'dist/app.bundle.mjs', 'node_modules/.cache/items-api/compile'],
  { stdio: 'inherit' },
);
