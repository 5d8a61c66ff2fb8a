// Raw node:http: the ceiling. Answers every request with the tutorial's hello body.
import { createServer } from 'node:http';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const body = JSON.stringify({ Hello: 'World' });
const server = createServer((_request, response) => {
  response.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
});
const port = portFromEnv();
server.listen(port, '127.0.0.1', () => ready({ url: `http://127.0.0.1:${port}` }));
exitOnSignal(() => new Promise((resolve) => server.close(resolve)));
