// Bare Fastify, after importing one module into the same process (env IMPORT: a specifier resolved
// from packages/fastify-kinde, e.g. `jose`, `fastify-kinde`, `./dist/src/tokens.js`; unset: nothing).
// For bench/import-cost.mjs: what merely loading a module costs every request of an unrelated route.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const specifier = process.env.IMPORT;
if (specifier) {
  const from = createRequire(new URL('../../packages/fastify-kinde/package.json', import.meta.url));
  const path = specifier.startsWith('.') ? from.resolve(specifier) : import.meta.resolve(specifier);
  globalThis.imported = await import(path.startsWith('file:') ? path : pathToFileURL(path).href);
}
const app = Fastify({ logger: false });
app.get('/', () => ({ Hello: 'World' }));
const port = portFromEnv();
await app.listen({ port, host: '127.0.0.1' });
ready({ url: `http://127.0.0.1:${port}` });
exitOnSignal(() => app.close());
