import Fastify, { type FastifyInstance } from 'fastify';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { freePort } from 'test-kit';
import fastifyKinde, { type KindeOptions, requireAuth, requirePermission } from '../src/index.js';
import { type TestClock, testClock } from '../src/testing/clock.js';

/** A running emulator and a small protected app wired to it, both on real ports. */
export interface Rig {
  emulator: Awaited<ReturnType<typeof startEmulator>>;
  app: FastifyInstance;
  appUrl: string;
  /** The app's clock (real time until moved). */
  clock: TestClock;
  /** Moves time by `ms` for the app and the emulator together: tests move time instead of sleeping. */
  advance(ms: number): void;
  /** Closes the app (and the emulator unless shared); a second call answers the first one's promise. */
  close(): Promise<void>;
}

/** Moves `clock` and the emulator's clock by `ms`. */
export function advanceBoth(clock: TestClock, emulator: Rig['emulator'], ms: number): void {
  clock.advance(ms);
  emulator.control.advanceClock(ms / 1000);
}

export const SECRET = 'test-session-secret-0123456789abcdef';

/** Starts the emulator and an app with `/` (auth), `/admin` (permission), `/whoami` (public). */
export async function startRig(
  options: {
    kinde?: Partial<KindeOptions>;
    emulator?: Partial<Parameters<typeof startEmulator>[0]>;
    routes?: (app: FastifyInstance) => void;
    /** An emulator that is already running (another rig's): used, and left running on close. */
    sharedEmulator?: Rig['emulator'];
  } = {},
): Promise<Rig> {
  const emulator = options.sharedEmulator ?? (await startEmulator({ port: 0, ...options.emulator }));
  const application = defaultDirectory().applications[0]!;
  const port = await freePort();
  const appUrl = `http://127.0.0.1:${port}`;
  const app = Fastify();
  const clock = testClock();
  await app.register(fastifyKinde, {
    clock,
    issuerUrl: emulator.issuerUrl,
    clientId: application.clientId,
    clientSecret: application.clientSecret,
    siteUrl: appUrl,
    sessionSecret: SECRET,
    sessionStore: 'memory',
    env: {},
    ...options.kinde,
  });
  app.get('/', { onRequest: requireAuth() }, () => ({ Hello: 'World' }));
  app.get('/admin', { onRequest: requirePermission('delete:items') }, () => ({ ok: true }));
  app.get('/declared', { config: { kinde: { permissions: ['read:items'] } } }, () => ({ ok: true }));
  app.get('/whoami', (request) => ({
    kind: request.kinde.kind,
    user: request.kinde.getUser(),
    token: request.kinde.getAccessToken(),
  }));
  options.routes?.(app);
  await app.listen({ port, host: '127.0.0.1' });
  let closing: Promise<void> | undefined;
  return {
    emulator,
    app,
    appUrl,
    clock,
    advance: (ms) => advanceBoth(clock, emulator, ms),
    close() {
      closing ??= (async () => {
        await app.close();
        if (options.sharedEmulator === undefined) await emulator.close();
      })();
      return closing;
    },
  };
}
