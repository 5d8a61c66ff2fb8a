// A bench server bundled as `npm start`'s app is (examples/items-api/scripts/bundle-config.mjs): one
// ES module instead of a graph of several hundred, so the process is loaded the way users run the app.
// The bundle is written to bench/.bundle/ (ignored by git), two levels below the repository like the
// scripts in bench/servers/, so the paths a server resolves from its own URL stay the same.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from '../../examples/items-api/scripts/bundle-config.mjs';

const OUT = fileURLToPath(new URL('../.bundle/', import.meta.url));

/**
 * Bundles `script` (a path) and returns the bundle's path.
 *
 * @param {string} script
 * @param {string} name
 */
export async function bundleServer(script, name) {
  const outfile = join(OUT, `${name}.bundle.mjs`);
  await build(bundleOptions(script, outfile));
  return outfile;
}
