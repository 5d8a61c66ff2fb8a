// The cost of one sign-in with fastify-kinde/testing (issue 16), once the emulator is up: the app's
// real login route (app.inject), the in-process emulator's /oauth2/auth (headless, over HTTP on
// 127.0.0.1) and the app's real callback (code exchange over HTTP, ID and access tokens verified).
// Prints the median and percentiles of `--runs` sign-ins (default 200) after 20 warm-up ones.
// `node bench/testing-sign-in.mjs [--runs 200]`
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import fastifyKinde, { requirePermission } from 'fastify-kinde';
import { startKindeTest } from 'fastify-kinde/testing';

const at = process.argv.indexOf('--runs');
const runs = at > 0 ? Number(process.argv[at + 1]) : 200;
const kit = await startKindeTest();
const app = Fastify();
await app.register(fastifyKinde, kit.options());
app.get('/admin', { onRequest: requirePermission('delete:items') }, () => ({ ok: true }));

async function signInOnce(options) {
  const started = performance.now();
  const cookie = await kit.signIn(app, options);
  const elapsed = performance.now() - started;
  const res = await app.inject({ url: '/admin', headers: { cookie } });
  if (res.statusCode !== 200) throw new Error(`sign-in did not work: ${res.statusCode}`);
  return elapsed;
}

const q = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const report = (label, times) => {
  const sorted = [...times].sort((a, b) => a - b);
  const fmt = (v) => `${v.toFixed(2)} ms`;
  console.log(
    `${label}: median ${fmt(q(sorted, 0.5))}, p90 ${fmt(q(sorted, 0.9))}, p99 ${fmt(q(sorted, 0.99))}, min ${fmt(sorted[0])} (${times.length} sign-ins)`,
  );
};

for (let i = 0; i < 20; i++) await signInOnce({ email: 'admin@example.test' });
const existing = [];
for (let i = 0; i < runs; i++) existing.push(await signInOnce({ email: 'admin@example.test' }));
report('signIn(app, { email })', existing);
const granted = [];
for (let i = 0; i < runs; i++) granted.push(await signInOnce({ permissions: ['delete:items'] }));
report('signIn(app, { permissions }) (a new user each time)', granted);
await app.close();
await kit.close();
