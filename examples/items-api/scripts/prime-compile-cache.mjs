// Writes Node's compile cache of an ES module without running it: `node prime-compile-cache.mjs
// <module> <cache folder>`. A child Node links the module, which compiles it and caches its code,
// and exits before evaluating it (the module it imports first exits), so nothing of the module runs.
// scripts/bundle.mjs runs it on the bundle it made, so the first `npm start` after a build finds the
// cache too (without it, that start compiles the bundle and writes the cache, slower than no cache).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [module, folder] = process.argv.slice(2);
if (!module || !folder) throw new Error('usage: node prime-compile-cache.mjs <module> <cache folder>');
const result = spawnSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import 'data:text/javascript,process.exit(0)'; import ${JSON.stringify(pathToFileURL(resolve(module)).href)};`,
  ],
  { stdio: 'inherit', env: { ...process.env, NODE_COMPILE_CACHE: resolve(folder) } },
);
process.exitCode = result.status ?? 1;
