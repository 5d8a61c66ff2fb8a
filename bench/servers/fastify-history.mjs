// Bare Fastify with the `warn` logger (servers/fastify.mjs's route), in a process with a history
// (bench/process-history.mjs): HISTORY=emulator also runs a Kinde emulator in this thread, as
// `npm start` does (the runner then signs in through it); HISTORY=outgoing makes 60 requests to the
// identity provider at ISSUER first (discovery, keys, a refused token request), as an app's OIDC client
// does; anything else, nothing (the runner may send other requests to the route's server itself).
import Fastify from 'fastify';
import { startEmulator } from 'kinde-emulator';
import { providerTraffic } from '../lib/provider-traffic.mjs';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const app = Fastify({ logger: { level: 'warn' } });
app.get('/', () => ({ Hello: 'World' }));
const port = portFromEnv();
await app.listen({ port, host: '127.0.0.1' });
const history = process.env.HISTORY ?? '';
/** @type {{ close(): Promise<void>, issuerUrl: string } | undefined} */
let emulator;
if (history === 'emulator') emulator = await startEmulator({ port: 0, host: '127.0.0.1' });
if (history === 'outgoing') {
  if (!process.env.ISSUER) throw new Error('HISTORY=outgoing needs ISSUER');
  await providerTraffic(process.env.ISSUER);
}
ready({ url: `http://127.0.0.1:${port}`, ...(emulator && { emulator: emulator.issuerUrl }) });
exitOnSignal(async () => {
  await app.close();
  await emulator?.close();
});
