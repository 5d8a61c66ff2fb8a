import type { FastifyInstance } from 'fastify';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { freePort } from 'test-kit';
import { buildApp } from '../src/app.js';

export { freePort, HttpClient, login } from 'test-kit';

/** The items API and an emulator, both listening on 127.0.0.1. */
export interface Running {
  app: FastifyInstance;
  appUrl: string;
  emulator: Awaited<ReturnType<typeof startEmulator>>;
  close(): Promise<void>;
}

export const DOCS_CLIENT_ID = 'items_api_docs';

export async function startItemsApi(): Promise<Running> {
  const directory = defaultDirectory();
  directory.applications.push({
    name: 'Items API docs',
    clientId: DOCS_CLIENT_ID,
    grants: ['authorization_code', 'refresh_token'],
    redirectUris: [],
    logoutUris: [],
    allowLoopbackRedirects: true,
  });
  const emulator = await startEmulator({ port: 0, directory });
  const application = defaultDirectory().applications[0]!;
  const port = await freePort();
  const appUrl = `http://127.0.0.1:${port}`;
  const app = await buildApp({
    kinde: {
      issuerUrl: emulator.issuerUrl,
      clientId: application.clientId,
      clientSecret: application.clientSecret,
      siteUrl: appUrl,
      sessionSecret: 'items-api-test-secret-0123456789abcdef',
      env: {},
      sessionStore: 'memory',
    },
    docsClientId: DOCS_CLIENT_ID,
  });
  await app.listen({ port, host: '127.0.0.1' });
  return {
    app,
    appUrl,
    emulator,
    async close() {
      await app.close();
      await emulator.close();
    },
  };
}
