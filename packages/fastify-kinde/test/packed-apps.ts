/**
 * The scratch apps of the packed-tarball test, as a user of the published packages writes them: an
 * ES module, a CommonJS script, TypeScript (node16, nodenext and bundler resolution) and an esbuild
 * bundle. Each serves `/` behind `requireAuth()` and answers with the signed-in user's email read from
 * `request.kinde`; the TypeScript ones also prove at compile time that `request.kinde` is typed.
 */

/** Every file of the scratch app, by path relative to its root. `subpaths` are the package's other exports. */
export function scratchFiles(subpaths: string[]): Record<string, string> {
  const esmSubpaths = subpaths.map((s, i) => `import * as sub${i} from '${s}';`).join('\n');
  const usedSubpaths = `void [${subpaths.map((_, i) => `sub${i}`).join(', ')}];`;
  const cjsSubpaths = subpaths.map((s, i) => `import sub${i} = require('${s}');`).join('\n');
  const tsEsm = `${TS_HEAD}\n${esmSubpaths}\n${usedSubpaths}\n${TS_BODY}`;
  return {
    'package.json': JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true }, null, 2),
    'esm/app.mjs': ESM_APP,
    'cjs/app.cjs': CJS_APP,
    // TypeScript, compiled with tsc to JavaScript that is then run: nodenext, ES module and CommonJS.
    'ts/tsconfig.json': tsconfig({ module: 'nodenext', moduleResolution: 'nodenext', outDir: 'dist' }),
    'ts/app.mts': tsEsm,
    'ts/require.cts': `${CTS_HEAD}\n${cjsSubpaths}\n${usedSubpaths}\n${CTS_BODY}`,
    'ts/require-js.cjs': CJS_CHECKED,
    // Type-checked only: node16 resolution (ES module; a CommonJS file cannot require an ES module
    // under node16, see the README) and bundler resolution.
    'ts-node16/tsconfig.json': tsconfig({ module: 'node16', moduleResolution: 'node16', noEmit: true }),
    'ts-node16/app.mts': tsEsm,
    'ts-bundler/tsconfig.json': tsconfig({ module: 'esnext', moduleResolution: 'bundler', noEmit: true }),
    'ts-bundler/app.ts': tsEsm,
    // The declarations themselves checked (skipLibCheck off), with the optional peers (ioredis, pg,
    // better-sqlite3) not installed: no public type may import theirs (TS2307 for such a user).
    'ts-libcheck/tsconfig.json': tsconfig({
      module: 'nodenext',
      moduleResolution: 'nodenext',
      noEmit: true,
      skipLibCheck: false,
    }),
    'ts-libcheck/app.mts': tsEsm,
  };
}

function tsconfig(options: Record<string, unknown>): string {
  const compilerOptions = {
    target: 'es2022',
    strict: true,
    skipLibCheck: true,
    allowJs: true,
    checkJs: true,
    types: ['node'],
    ...options,
  };
  return JSON.stringify({ compilerOptions, include: ['*.ts', '*.mts', '*.cts', '*.cjs'] }, null, 2);
}

const LISTEN = `app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })`;

const ESM_APP = `import Fastify from 'fastify';
import fastifyKinde, { requireAuth } from 'fastify-kinde';

const app = Fastify();
await app.register(fastifyKinde);
app.get('/', { onRequest: requireAuth() }, async (request) => ({
  variant: process.env.VARIANT,
  email: request.kinde.getUser()?.email ?? null,
}));
await ${LISTEN};
console.log('ready', process.version);
`;

const CJS_APP = `'use strict';
const Fastify = require('fastify');
const kinde = require('fastify-kinde');

// require() of the ES module returns its namespace: the plugin is its default (and named) export.
if (kinde.default !== kinde.fastifyKinde) throw new Error('default and named plugin exports differ');
const app = Fastify();
app.register(kinde.fastifyKinde);
app.get('/', { onRequest: kinde.requireAuth() }, async (request) => ({
  variant: process.env.VARIANT,
  email: request.kinde.getUser()?.email ?? null,
}));
${LISTEN}.then(() => console.log('ready', process.version), (error) => {
  console.error(error);
  process.exit(1);
});
`;

/** Plain JavaScript checked by tsc (checkJs): require() of the package is typed too. */
const CJS_CHECKED = `'use strict';
const Fastify = require('fastify');
const { fastifyKinde } = require('fastify-kinde');

const app = Fastify();
app.register(fastifyKinde);
app.get('/', async (request) => {
  /** @type {string | null} */
  const email = request.kinde.getUser()?.email ?? null;
  // @ts-expect-error request.kinde is typed, not any
  request.kinde.noSuchMethod();
  return { email };
});
module.exports = app;
`;

const TS_HEAD = `import Fastify from 'fastify';
import fastifyKinde, { type GuardRequirement, type KindeContext, type KindeUser, requireAuth } from 'fastify-kinde';`;

const CTS_HEAD = `import Fastify = require('fastify');
import kinde = require('fastify-kinde');`;

/** A route that only compiles when the request.kinde / app.kinde augmentation is visible. */
const TS_ROUTE = (guard: string) => `app.get('/', { onRequest: ${guard}() }, async (request) => {
  const context: KindeContext = request.kinde;
  const user: KindeUser | null = context.getUser();
  const granted: boolean = request.kinde.getPermission('read:items').isGranted;
  const declared: boolean | GuardRequirement | undefined = request.routeOptions.config.kinde;
  void declared;
  // @ts-expect-error request.kinde is typed, not any
  const wrong: number = request.kinde;
  void wrong;
  return { variant: process.env.VARIANT, email: user?.email ?? null, granted };
});
app.get('/declared', { config: { kinde: { permissions: ['read:items'] } } }, async () => ({ ok: true }));
// app.kinde is there once the plugin is registered.
const issuer = (): string => app.kinde.issuerUrl;`;

const TS_BODY = `
const app = Fastify();
await app.register(fastifyKinde);
${TS_ROUTE('requireAuth')}
await ${LISTEN};
console.log('ready', process.version, issuer());
`;

const CTS_BODY = `
type KindeContext = kinde.KindeContext;
type KindeUser = kinde.KindeUser;
type GuardRequirement = kinde.GuardRequirement;
const app = Fastify();
app.register(kinde.fastifyKinde);
${TS_ROUTE('kinde.requireAuth')}
${LISTEN}.then(() => console.log('ready', process.version, issuer()));
`;
