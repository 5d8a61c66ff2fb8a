/**
 * fastify-kinde/testing: test the routes of an app built on fastify-kinde with real tokens, offline,
 * without a browser and without mocking the plugin. Needs `kinde-emulator` (a dev dependency).
 *
 * @example
 * ```ts
 * import { after, test } from 'node:test';
 * import { startKindeTest } from 'fastify-kinde/testing';
 *
 * const kit = await startKindeTest({ after });
 * const app = await buildApp(kit.options());
 * test('admins may delete', async () => {
 *   const cookie = await kit.signIn(app, { permissions: ['delete:items'] });
 *   const res = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie } });
 * });
 * ```
 */
import type { EmulatorOptions } from 'kinde-emulator';
import { KindeTestKit } from './kit.js';
import { httpProvider, inProcessProvider, KindeTestError } from './provider.js';

export { type TestClock, testClock } from './clock.js';
export type { IdentityOptions, TestUser } from './identity.js';
export { type BearerOptions, KindeTestKit, type MachineOptions } from './kit.js';
export { KindeTestError } from './provider.js';

/** Registers a teardown with the test runner: node:test's `after`, Vitest's `afterAll`, or `t.after`. */
export type Teardown = (close: () => Promise<void>) => unknown;

/** Options of {@link startKindeTest}. */
export interface StartKindeTestOptions {
  /** Closes the emulator when the tests end, e.g. `{ after }` (node:test) or `{ after: afterAll }` (Vitest). */
  after?: Teardown;
  /**
   * Options of the in-process emulator: `directory`, token lifetimes (`accessTokenTtl`, …), `keys`…
   * Default: port 0 (a random free port) on 127.0.0.1, headless login.
   */
  emulator?: EmulatorOptions;
  /** `siteUrl` of {@link KindeTestKit.options}; default `http://127.0.0.1`. */
  siteUrl?: string;
}

/** Options of {@link connectKindeTest}. */
export interface ConnectKindeTestOptions {
  /** The running emulator's issuer URL, e.g. `http://127.0.0.1:8001`. */
  issuerUrl: string;
  /** Default: the directory's first application. */
  clientId?: string;
  /** Required when that application has a secret (the emulator never reads it back). */
  clientSecret?: string;
  siteUrl?: string;
  after?: Teardown;
}

function checkTeardown(what: string, after: unknown): void {
  if (after !== undefined && typeof after !== 'function') {
    throw new KindeTestError(
      `${what}: "after" must be a function such as node:test's after or Vitest's afterAll`,
    );
  }
}

function checkSite(what: string, siteUrl: string | undefined): string {
  const site = siteUrl ?? 'http://127.0.0.1';
  if (!URL.canParse(site) || !/^https?:$/.test(new URL(site).protocol)) {
    throw new KindeTestError(`${what}: "siteUrl" must be an http(s) URL, got ${JSON.stringify(siteUrl)}`);
  }
  return new URL(site).origin;
}

async function loadEmulator(): Promise<typeof import('kinde-emulator')> {
  try {
    return await import('kinde-emulator');
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new KindeTestError(
      'startKindeTest needs the kinde-emulator package: npm install --save-dev kinde-emulator',
      { cause: error },
    );
  }
}

/**
 * Starts a Kinde emulator in this process on a random port of 127.0.0.1, and returns a kit wired to
 * it. Pass `after` to close it with the tests; otherwise call `kit.close()`.
 *
 * @example
 * const kit = await startKindeTest({ after });
 * await app.register(fastifyKinde, kit.options());
 */
export async function startKindeTest(options: StartKindeTestOptions = {}): Promise<KindeTestKit> {
  const what = 'startKindeTest';
  checkTeardown(what, options.after);
  const siteUrl = checkSite(what, options.siteUrl);
  const { startEmulator } = await loadEmulator();
  const emulator = await startEmulator({ port: 0, headlessLogin: true, ...options.emulator });
  const application = emulator.directory.applications[0];
  if (!application) {
    await emulator.close();
    throw new KindeTestError(`${what}: the emulator's directory has no application`);
  }
  const kit = new KindeTestKit({
    provider: inProcessProvider(emulator),
    client: { clientId: application.clientId, clientSecret: application.clientSecret },
    siteUrl,
  });
  options.after?.(() => kit.close());
  return kit;
}

/**
 * A kit for an emulator that is already running (`npx kinde-emulator`), driven through its HTTP
 * control API. Users, grants and application settings the kit writes stay in that emulator.
 */
export async function connectKindeTest(options: ConnectKindeTestOptions): Promise<KindeTestKit> {
  const what = 'connectKindeTest';
  const issuerUrl = options?.issuerUrl;
  if (typeof issuerUrl !== 'string' || !URL.canParse(issuerUrl)) {
    throw new KindeTestError(
      `${what}: "issuerUrl" must be the emulator's URL, got ${JSON.stringify(issuerUrl)}`,
    );
  }
  checkTeardown(what, options.after);
  const siteUrl = checkSite(what, options.siteUrl);
  const provider = httpProvider(issuerUrl.replace(/\/+$/, ''));
  const directory = await provider.directory();
  const application = options.clientId
    ? directory.applications.find((a) => a.clientId === options.clientId)
    : directory.applications[0];
  if (!application) {
    throw new KindeTestError(`${what}: the emulator has no application "${options.clientId ?? '(any)'}"`);
  }
  if (application.clientSecret && !options.clientSecret) {
    throw new KindeTestError(`${what}: ${application.clientId} has a secret; pass it as "clientSecret"`);
  }
  const kit = new KindeTestKit({
    provider,
    client: { clientId: application.clientId, clientSecret: options.clientSecret },
    siteUrl,
  });
  options.after?.(() => kit.close());
  return kit;
}
