// How the items API is bundled: esbuild's options and the two plugins they need. Used by
// scripts/bundle.mjs for `npm start`'s bundle, and by the bench (bench/lib/bundle.mjs) to load its own
// fastify-kinde server the same way.
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';

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

/**
 * esbuild's options for one bundle of `entry` into `outfile`: one ES module for Node 22+, with the
 * optional store clients external, Swagger UI told where its files are, and `yaml`, `mime` and `glob`
 * loaded on first use.
 *
 * @param {string} entry
 * @param {string} outfile
 * @returns {import('esbuild').BuildOptions}
 */
export function bundleOptions(entry, outfile) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    sourcemap: 'linked',
    // better-sqlite3 loads its native addon; ioredis, pg and better-sqlite3 are optional peers of
    // fastify-kinde, loaded only for their store.
    external: ['better-sqlite3', 'ioredis', 'pg'],
    plugins: [swaggerUiDirname, lazyModules],
    // Licence comments go to a .LEGAL.txt file: one of them has a non-ASCII letter, which made V8
    // hold the whole 2.8 MB source as a two-byte string (5.6 MB, and slower to scan) instead of ASCII.
    legalComments: 'linked',
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  };
}
