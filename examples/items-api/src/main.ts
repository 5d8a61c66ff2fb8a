import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { KindeOptions } from 'fastify-kinde';
import { buildApp } from './app.js';

// A .env file configures real Kinde; variables already set win over it. Reading it is this app's
// choice: the plugin reads only process.env.
if (existsSync('.env')) process.loadEnvFile('.env');

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8000);
const emulatorPort = Number(process.env.EMULATOR_PORT ?? 8001);

function portInUse(error: unknown, which: string, at: number): never {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    console.error(
      `error: port ${at} on ${host} is already in use (${which}); stop the other process or set ${which === 'items API' ? 'PORT' : 'EMULATOR_PORT'}`,
    );
  } else {
    console.error(`error: the ${which} could not start: ${(error as Error).message}`);
  }
  process.exit(1);
}

/** The embedded emulator keeps its signing key here, so tokens stay valid across restarts. */
const EMULATOR_KEY_FILE = process.env.EMULATOR_KEY_FILE ?? '.data/kinde-emulator-keys.json';

/** A public (PKCE) application for Swagger UI's Authorize button in /docs. */
const DOCS_APPLICATION = {
  name: 'Items API docs (Swagger UI)',
  clientId: 'items_api_docs',
  grants: ['authorization_code', 'refresh_token'] as ('authorization_code' | 'refresh_token')[],
  redirectUris: [],
  logoutUris: [],
  allowLoopbackRedirects: true,
};

/**
 * With the embedded emulator and no SESSION_SECRET, a development secret is kept next to the
 * emulator's key, so sessions (in SQLite) and tokens both survive a restart.
 */
function devSessionSecret(): string {
  const path = process.env.DEV_SESSION_SECRET_FILE ?? '.data/dev-session-secret';
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}

interface Embedded {
  kinde: KindeOptions;
  docsClientId: string;
  /** Resolves when the emulator listens; its RSA key is made while the app is built. */
  ready: Promise<{ close: () => Promise<void> }>;
  users: string[];
}

/** Starts the embedded emulator and returns the options that wire the app to it. */
async function embeddedEmulator(siteUrl: string): Promise<Embedded> {
  const { startEmulator, defaultDirectory } = await import('kinde-emulator');
  const directory = defaultDirectory();
  const application = directory.applications[0]!;
  directory.applications.push(DOCS_APPLICATION);
  const ready = startEmulator({ port: emulatorPort, host, directory, keyFile: EMULATOR_KEY_FILE }).catch(
    (e: unknown) => portInUse(e, 'Kinde emulator', emulatorPort),
  );
  return {
    kinde: {
      issuerUrl: `http://${host}:${emulatorPort}`,
      clientId: application.clientId,
      clientSecret: application.clientSecret,
      siteUrl,
      sessionSecret: process.env.SESSION_SECRET ?? devSessionSecret(),
    },
    docsClientId: DOCS_APPLICATION.clientId,
    ready,
    users: directory.users.map((u) => u.email),
  };
}

/** The NODE_ENV values the embedded emulator runs under (as the emulator itself enforces). */
const DEVELOPMENT = new Set([undefined, '', 'development', 'test']);

async function main(): Promise<void> {
  if (!process.env.KINDE_ISSUER_URL && !DEVELOPMENT.has(process.env.NODE_ENV)) {
    console.error(
      `error: NODE_ENV=${process.env.NODE_ENV} and no KINDE_ISSUER_URL: the embedded Kinde emulator runs only in development (NODE_ENV unset, development or test). ` +
        'To use real Kinde, set KINDE_ISSUER_URL, KINDE_CLIENT_ID, KINDE_CLIENT_SECRET, KINDE_SITE_URL (https in production) and SESSION_SECRET',
    );
    process.exit(1);
  }
  const siteUrl = process.env.KINDE_SITE_URL ?? `http://${host}:${port}`;
  const embedded = process.env.KINDE_ISSUER_URL ? undefined : await embeddedEmulator(siteUrl);
  let app: FastifyInstance;
  try {
    app = await buildApp({
      // On SIGTERM, close() ends once in-flight requests finish, not after the keep-alive timeout.
      kinde: { ...embedded?.kinde, closeIdleConnections: true },
      logger: { level: process.env.LOG_LEVEL ?? 'warn' },
      // The docs' Authorize button signs in as the embedded emulator's public docs client;
      // with real Kinde, KINDE_DOCS_CLIENT_ID names yours.
      ...(embedded ? { docsClientId: embedded.docsClientId } : {}),
    });
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  }
  // In order: the app starts once its identity provider listens, so the plugin's discovery
  // warm-up finds it (and no "not reachable yet" warning is logged). The emulator's key was being
  // made while the app was built.
  const emulator = await embedded?.ready;
  await app.listen({ port, host }).catch((e: unknown) => portInUse(e, 'items API', port));

  console.log(`items API      ${siteUrl}  (docs: ${siteUrl}/docs, login: ${siteUrl}/api/auth/login)`);
  if (embedded) {
    console.log(
      `Kinde emulator ${embedded.kinde.issuerUrl}  (offline; pick ${embedded.users.join(' or ')} on its login page)`,
    );
  } else {
    console.log(`Kinde          ${process.env.KINDE_ISSUER_URL}`);
  }

  const stop = async () => {
    await app.close();
    await emulator?.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

await main();
