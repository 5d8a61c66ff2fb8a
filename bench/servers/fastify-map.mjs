// The floor issue 7 names: bare Fastify plus an onRequest hook that reads a cookie and looks the
// session up in a Map. Not a product row: it shows what a gated route costs when it does only that.
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const sessions = new Map([['bench-session-id', { user: 'admin@example.test' }]]);
const app = Fastify({ logger: false });
await app.register(fastifyCookie);
app.decorateRequest('session', null);
app.addHook('onRequest', (request, reply, done) => {
  const id = request.cookies.sid;
  const session = id === undefined ? undefined : sessions.get(id);
  if (session === undefined) {
    reply.code(401).send({ detail: 'Not authenticated' });
    return;
  }
  request.session = session;
  done();
});
app.get('/', () => ({ Hello: 'World' }));
const port = portFromEnv();
await app.listen({ port, host: '127.0.0.1' });
ready({ url: `http://127.0.0.1:${port}`, cookie: 'sid=bench-session-id' });
exitOnSignal(() => app.close());
