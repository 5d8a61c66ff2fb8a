// Testing routes guarded by fastify-kinde with Vitest and fastify-kinde/testing: real sign-ins and
// real tokens from an emulator in this process, no browser, no mocks.
import { startKindeTest } from 'fastify-kinde/testing';
import { afterAll, describe, expect, test } from 'vitest';
import { buildApp } from '../src/app.js';

// Top level: Vitest's `afterAll` then stops the emulator when this file's tests end.
const kit = await startKindeTest({ after: afterAll });
const app = await buildApp(kit.options());
afterAll(() => app.close());

describe('DELETE /items/:id', () => {
  test('answers 401 without a session', async () => {
    const response = await app.inject({ method: 'DELETE', url: '/items/1' });
    expect(response.statusCode).toBe(401);
  });

  test('answers 403 to a user without delete:items', async () => {
    const cookie = await kit.signIn(app, { email: 'user@example.test' });
    const response = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie } });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ detail: 'Missing permission: delete:items' });
  });

  test('deletes for a user granted delete:items', async () => {
    const cookie = await kit.signIn(app, { permissions: ['delete:items'] });
    const response = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie } });
    expect(response.statusCode).toBe(204);
  });

  test('accepts a machine token with the permission', async () => {
    const token = await kit.machineToken({ permissions: ['delete:items'] });
    const response = await app.inject({
      method: 'DELETE',
      url: '/items/1',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.statusCode).toBe(404);
  });
});

test('GET /whoami over real HTTP with the signed-in cookie', async () => {
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const cookie = await kit.signIn(app, { email: 'admin@example.test' });
  const response = await fetch(`${address}/whoami`, { headers: { cookie } });
  expect(await response.json()).toEqual({ kind: 'user', email: 'admin@example.test' });
});
