/**
 * One app instance for the multi-process SQLite tests, run as a forked child:
 * `node sqlite-app.js <issuerUrl> <sqlitePath> <port> <driver>`. The real plugin on the real SQLite store,
 * with `/` (signed in), `/profile` (fetches and stores the user profile) and `/whoami`. Tells its
 * parent `ready` over IPC, moves its clock when told `{ advanceMs }` (and answers `advanced`), and ends
 * when the parent goes away.
 */
import Fastify from 'fastify';
import { defaultDirectory } from 'kinde-emulator';
import fastifyKinde, { requireAuth, type SqliteDriverName, sqliteSessionStore } from '../src/index.js';
import { testClock } from '../src/testing/clock.js';
import { SECRET } from './setup.js';

const [issuerUrl, path, port, driver] = process.argv.slice(2);
if (issuerUrl === undefined || path === undefined || port === undefined || driver === undefined) {
  throw new Error('usage: sqlite-app.js <issuerUrl> <sqlitePath> <port> <node:sqlite|better-sqlite3>');
}
const application = defaultDirectory().applications[0]!;
const siteUrl = `http://127.0.0.1:${port}`;
const app = Fastify();
const clock = testClock();
await app.register(fastifyKinde, {
  clock,
  issuerUrl,
  clientId: application.clientId,
  clientSecret: application.clientSecret,
  siteUrl,
  sessionSecret: SECRET,
  sessionStore: sqliteSessionStore({ path, driver: driver as SqliteDriverName, clock }),
  env: {},
});
app.get('/', { onRequest: requireAuth() }, (request) => ({ token: request.kinde.getAccessToken() }));
app.get('/profile', { onRequest: requireAuth() }, async (request) => ({
  email: (await request.kinde.getUserProfile())?.email ?? null,
}));
app.get('/whoami', (request) => ({ kind: request.kinde.kind }));
await app.listen({ port: Number(port), host: '127.0.0.1' });
process.on('message', (message: { advanceMs?: unknown }) => {
  if (typeof message?.advanceMs !== 'number') return;
  clock.advance(message.advanceMs);
  process.send?.('advanced');
});
process.on('disconnect', () => {
  app.close().finally(() => process.exit(0));
});
process.send?.('ready');
