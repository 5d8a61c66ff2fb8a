import type { FastifyInstance } from 'fastify';
import { type KindeTestKit, startKindeTest } from 'fastify-kinde/testing';
import { defaultDirectory } from 'kinde-emulator';
import { freePort } from 'test-kit';
import { buildApp } from '../src/app.js';

export { freePort, HttpClient, login, within } from 'test-kit';

/** The items API and an emulator, both listening on 127.0.0.1. */
export interface Running {
  app: FastifyInstance;
  appUrl: string;
  emulator: { issuerUrl: string };
  /** fastify-kinde/testing, wired to the emulator: signs users in without a browser. */
  kit: KindeTestKit;
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
  const kit = await startKindeTest({ emulator: { directory } });
  const port = await freePort();
  const appUrl = `http://127.0.0.1:${port}`;
  const app = await buildApp({ kinde: kit.options({ siteUrl: appUrl }), docsClientId: DOCS_CLIENT_ID });
  await app.listen({ port, host: '127.0.0.1' });
  return {
    app,
    appUrl,
    emulator: { issuerUrl: kit.issuerUrl },
    kit,
    async close() {
      await app.close();
      await kit.close();
    },
  };
}
