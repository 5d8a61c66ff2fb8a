// The incumbent: Express 4 with Kinde's node-express SDK, `/` behind its `protectRoute` middleware
// (the authenticated path: the SDK validates the session's access token and fetches the issuer's
// JWKS on every request), against the emulator, so it runs offline.
//
// env: PORT, ISSUER_URL, CLIENT_ID, CLIENT_SECRET
import { GrantType, protectRoute, setupKinde } from '@kinde-oss/kinde-node-express';
import express from 'express';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const port = portFromEnv();
const siteUrl = `http://127.0.0.1:${port}`;
process.env.SESSION_SECRET ??= 'bench-session-secret-0123456789abcdef0123';

const app = express();
setupKinde(
  {
    grantType: GrantType.AUTHORIZATION_CODE,
    issuerBaseUrl: process.env.ISSUER_URL ?? '',
    clientId: process.env.CLIENT_ID ?? '',
    secret: process.env.CLIENT_SECRET ?? '',
    siteUrl,
    redirectUrl: `${siteUrl}/kinde_callback`,
    unAuthorisedUrl: `${siteUrl}/unauthorised`,
    postLogoutRedirectUrl: siteUrl,
  },
  app,
);
app.get('/', protectRoute, (_request, response) => {
  response.json({ Hello: 'World' });
});

const server = app.listen(port, '127.0.0.1', () => ready({ url: siteUrl }));
exitOnSignal(() => new Promise((resolve) => server.close(resolve)));
