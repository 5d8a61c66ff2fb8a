import type { FastifyInstance } from 'fastify';
import { Clock, type EmulatorContext, lifetimes } from './context.js';
import { EmulatorControl } from './control.js';
import { dashboardRoutes } from './dashboard/routes.js';
import { defaultDirectory } from './directory.js';
import { loadDirectoryFile, watchDirectoryFile } from './directory-file.js';
import { checkBind, refuseOutsideDevelopment } from './exposure.js';
import { loadOrCreateKeys, saveKeys } from './key-file.js';
import { generateSigningKey, KeyRing, type SigningKey } from './keys.js';
import { controlRoutes } from './routes/control.js';
import { webhookRoutes } from './routes/webhooks.js';
import { buildApp, type EmulatorLogOptions } from './server.js';
import { ProtocolStore } from './store.js';
import type { Directory, RequestLogEntry, TokenLifetimes } from './types.js';
import { validateDirectory } from './validate.js';
import { emitDirectoryEvents } from './webhooks/directory-events.js';
import { type WebhookOptions, Webhooks } from './webhooks/hub.js';

/** Options of {@link createEmulator} and {@link startEmulator}. */
export interface EmulatorOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /**
   * Interface to listen on; default `127.0.0.1`. Anything but loopback (`127.0.0.0/8`, `::1`,
   * `localhost`) is refused unless `allowRemote` is set.
   */
  host?: string;
  /** Allow a `host` other machines can reach (e.g. `0.0.0.0` in a container); a warning is emitted. */
  allowRemote?: boolean;
  /** Users, organizations and applications; default {@link defaultDirectory}. */
  directory?: Directory;
  /** Sign in at once when `login_hint` names a user (email or id), without showing the page. */
  headlessLogin?: boolean;
  /** Access-token lifetime in seconds (overrides the directory). */
  accessTokenTtl?: number;
  /** ID-token lifetime in seconds (overrides the directory). */
  idTokenTtl?: number;
  /** Refresh-token lifetime in seconds (overrides the directory). */
  refreshTokenTtl?: number;
  /** Seconds a rotated refresh token remains usable (overrides the directory; default 5). */
  refreshGraceSeconds?: number;
  /**
   * Mimic Kinde: a refresh returns the existing access token while it has not expired (with the
   * remaining `expires_in`). Default false: every refresh signs a new access token.
   */
  reuseAccessTokenOnRefresh?: boolean;
  /**
   * Serve https with this PEM key and certificate (e.g. for aws-jwt-verify, which refuses http).
   * The issuer becomes `https://...`; make Node trust the certificate with `NODE_EXTRA_CA_CERTS`.
   */
  https?: { key: string | Buffer; cert: string | Buffer };
  /** Fastify's logger (pino); off by default. Tokens, secrets, cookies and query strings are never logged. */
  logger?: boolean | EmulatorLogOptions;
  /** A directory JSON file to load instead of `directory`; reloaded when it changes (see `watchDirectory`). */
  directoryFile?: string;
  /** Reload `directoryFile` when it changes (default true). A bad file keeps the previous directory. */
  watchDirectory?: boolean;
  /** Called when a changed directory file is loaded, or refused (with the error naming the field). */
  onDirectoryReload?: (error: Error | undefined) => void;
  /** Signing keys to use; default one fresh key (or those of `keyFile`). */
  keys?: SigningKey[];
  /** A dev key file: keys are loaded from it (or created and written, mode 0600), and saved on rotation. */
  keyFile?: string;
  /** Serve the test-control API under `/_emulator` (loopback callers only). Default true. */
  control?: boolean;
  /** Public issuer URL when it differs from the listening address (e.g. behind a proxy). */
  issuerUrl?: string;
  /** Webhook delivery: retry delays and per-attempt timeout. Endpoints must be loopback unless `allowRemote`. */
  webhooks?: WebhookOptions;
}

/** A running (or ready to run) emulator. */
export interface Emulator {
  /** `http://127.0.0.1:<port>` (https with the `https` option): no trailing slash; also the `iss` claim. Empty until listening. */
  readonly issuerUrl: string;
  /** The Fastify instance (use `app.inject` or add routes). */
  readonly app: FastifyInstance;
  /** Requests received, oldest first: method, path, query, grantType of token calls, status. */
  readonly requests: RequestLogEntry[];
  /** The live directory; changes take effect at once. */
  readonly directory: Directory;
  /** The emulator clock (tokens, codes and expiries use it). */
  readonly clock: Clock;
  /** The signing keys. */
  readonly keys: KeyRing;
  /** Shared state, for control routes and advanced tests. */
  readonly context: EmulatorContext;
  /** Test controls: clock, failures, headless login, key rotation, directory, reset. */
  readonly control: EmulatorControl;
  /** Webhook endpoints, event emission (`emit`, `emitFor`), the delivery log and replay. */
  readonly webhooks: Webhooks;
  /** Starts listening (done by {@link startEmulator}); resolves to the issuer URL. */
  listen(): Promise<string>;
  /** Stops the server. */
  close(): Promise<void>;
}

function overrides(options: EmulatorOptions): Partial<TokenLifetimes> {
  const out: Partial<TokenLifetimes> = {};
  if (options.accessTokenTtl !== undefined) out.accessToken = options.accessTokenTtl;
  if (options.idTokenTtl !== undefined) out.idToken = options.idTokenTtl;
  if (options.refreshTokenTtl !== undefined) out.refreshToken = options.refreshTokenTtl;
  for (const [name, value] of Object.entries(out)) {
    if (!Number.isInteger(value) || value <= 0)
      throw new Error(`"${name}Ttl" must be a positive integer of seconds`);
  }
  return out;
}

function initialDirectory(options: EmulatorOptions): Directory {
  if (options.directoryFile) return loadDirectoryFile(options.directoryFile);
  return options.directory ? validateDirectory(options.directory) : defaultDirectory();
}

async function keyRing(options: EmulatorOptions, clock: Clock): Promise<KeyRing> {
  if (options.keys?.length) return new KeyRing([...options.keys]);
  if (!options.keyFile) return new KeyRing([await generateSigningKey(clock.now())]);
  const loaded = await loadOrCreateKeys(options.keyFile, clock.now());
  const ring = new KeyRing(loaded.keys);
  ring.pending = loaded.pending;
  return ring;
}

function watchFile(options: EmulatorOptions, ctx: EmulatorContext): () => void {
  if (!options.directoryFile || options.watchDirectory === false) return () => {};
  return watchDirectoryFile(
    options.directoryFile,
    (dir) => {
      ctx.directory = dir;
      options.onDirectoryReload?.(undefined);
    },
    (err) => options.onDirectoryReload?.(err),
  );
}

/**
 * Builds an emulator without listening. Use {@link startEmulator} unless you only need `app.inject`.
 *
 * @example
 * const emu = await createEmulator({ headlessLogin: true });
 * await emu.listen();
 */
export async function createEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  refuseOutsideDevelopment();
  const host = options.host ?? '127.0.0.1';
  checkBind(host, options.allowRemote === true);
  const clock = new Clock();
  const ring = await keyRing(options, clock);
  const ctx: EmulatorContext = {
    directory: initialDirectory(options),
    keys: ring,
    store: new ProtocolStore(() => clock.now()),
    clock,
    requests: [],
    issuer: options.issuerUrl?.replace(/\/+$/, ''),
    headlessLogin: options.headlessLogin ?? false,
    lifetimeOverrides: overrides(options),
    refreshGraceSeconds: options.refreshGraceSeconds,
    reuseAccessTokenOnRefresh: options.reuseAccessTokenOnRefresh ?? false,
    failures: {},
    onKeysChanged: options.keyFile ? () => saveKeys(options.keyFile as string, ring) : undefined,
  };
  lifetimes(ctx);
  const webhooks = new Webhooks(ctx, options.allowRemote === true, options.webhooks);
  ctx.webhooks = webhooks;
  // Management API writes send the webhook events Kinde sends for them.
  const stopDirectoryEvents = emitDirectoryEvents(ctx, webhooks);
  const app = await buildApp(ctx, options.logger ?? false, options.https);
  const control = new EmulatorControl(ctx);
  if (options.control !== false) {
    controlRoutes(app, ctx, control);
    webhookRoutes(app, webhooks);
    dashboardRoutes(app, ctx, control, webhooks);
  }
  const stopWatching = watchFile(options, ctx);
  return {
    get issuerUrl() {
      return ctx.issuer ?? '';
    },
    app,
    requests: ctx.requests,
    get directory() {
      return ctx.directory;
    },
    clock,
    keys: ctx.keys,
    context: ctx,
    control,
    webhooks,
    async listen() {
      await app.listen({ port: options.port ?? 0, host });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
      ctx.issuer ??= `${options.https ? 'https' : 'http'}://${shown}:${port}`;
      return ctx.issuer;
    },
    async close() {
      stopWatching();
      stopDirectoryEvents();
      webhooks.close();
      await app.close();
    },
  };
}

/**
 * Starts an emulator on 127.0.0.1 (port 0 by default) and resolves once it accepts requests.
 *
 * @example
 * const emu = await startEmulator({ port: 0 });
 * console.log(emu.issuerUrl); // http://127.0.0.1:54321
 * await emu.close();
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await createEmulator(options);
  try {
    await emu.listen();
  } catch (err) {
    await emu.close().catch(() => {});
    throw err;
  }
  return emu;
}
