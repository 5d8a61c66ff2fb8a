// Bare Fastify: the reference every ratio is taken against. Same route and body as the protected rows.
import Fastify from 'fastify';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const app = Fastify({ logger: false });
app.get('/', () => ({ Hello: 'World' }));
const port = portFromEnv();
await app.listen({ port, host: '127.0.0.1' });
ready({ url: `http://127.0.0.1:${port}` });
exitOnSignal(() => app.close());
