// Bundles the compiled app into one ES module for `npm start` (dist/app.bundle.mjs, loaded by the small
// dist/main.bundle.mjs written at the end): a cold start then parses one file instead of resolving and
// loading several hundred modules (about 100 ms less to the first answer on a 2-core machine). Packages
// that find files next to themselves stay external, or are told where their installed files are
// (@fastify/swagger-ui; both in bundle-config.mjs). bench/README.md ("Start-up") has what each step here saves.
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { bundleOptions } from './bundle-config.mjs';

await build(bundleOptions('dist/src/main.js', 'dist/app.bundle.mjs'));

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
