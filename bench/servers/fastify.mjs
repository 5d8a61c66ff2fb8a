// Bare Fastify: the reference every ratio is taken against. Same route and body as the protected rows.
// LOGGER=warn gives it the example app's logger (pino at `warn`, as `npm start` runs), for the app rows.
import Fastify from 'fastify';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const level = process.env.LOGGER;
const app = Fastify({ logger: level ? { level } : false });
app.get('/', () => ({ Hello: 'World' }));
const port = portFromEnv();
await app.listen({ port, host: '127.0.0.1' });
ready({ url: `http://127.0.0.1:${port}` });
exitOnSignal(() => app.close());
