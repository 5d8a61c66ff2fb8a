import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { HttpClient, type Running, startItemsApi } from './harness.js';

describe('items API', () => {
  let api: Running;
  const client = new HttpClient();
  before(async () => {
    api = await startItemsApi();
  });
  after(() => api.close());

  test('every route answers 401 with the exact body before login', async () => {
    for (const path of ['/', '/items/420', '/items/abc', '/me']) {
      const response = await fetch(`${api.appUrl}${path}`);
      assert.equal(response.status, 401, path);
      assert.equal(await response.text(), '{"detail":"Not authenticated"}');
    }
  });

  test('after a login (fastify-kinde/testing: the real flow, no browser), / and /items answer as in the tutorial', async () => {
    const cookie = await api.kit.signIn(api.app, { email: 'admin@example.test' });
    const eq = cookie.indexOf('=');
    client.cookies(api.appUrl).set(cookie.slice(0, eq), cookie.slice(eq + 1));
    assert.equal((await client.request(`${api.appUrl}/`)).body, '{"Hello":"World"}');
    assert.equal((await client.request(`${api.appUrl}/items/420`)).body, '{"item_id":420,"q":null}');
    assert.equal((await client.request(`${api.appUrl}/items/7?q=box`)).body, '{"item_id":7,"q":"box"}');
    const me = JSON.parse((await client.request(`${api.appUrl}/me`)).body);
    assert.equal(me.email, 'admin@example.test');
  });

  test('a non-integer item id is a clear 400, never a 500 nor a rounded number', async () => {
    const refused = [
      'abc',
      '4.2',
      '1.5',
      '1e3x',
      '1e400',
      '1e3',
      '1.0',
      '+1',
      '%201',
      '1%20',
      '0x10',
      '1_000',
      'Infinity',
      '-Infinity',
      'NaN',
      '--1',
      '-',
      '%EF%BC%91',
      '1%00',
      `${'9'.repeat(4301)}`,
    ];
    for (const id of refused) {
      const answer = await client.request(`${api.appUrl}/items/${id}`);
      assert.ok(answer.status === 400 || answer.status === 414, `${id.slice(0, 20)}: ${answer.status}`);
      if (answer.status === 400)
        assert.match(JSON.parse(answer.body).message, /^params\/item_id must be integer/, id);
    }
  });

  test('an integer item id of any size is echoed exactly, as FastAPI does', async () => {
    const echoed: [string, string][] = [
      ['420', '420'],
      ['0', '0'],
      ['-0', '0'],
      ['007', '7'],
      ['-12', '-12'],
      ['9007199254740993', '9007199254740993'], // 2^53 + 1: a JavaScript number would round it
      ['123456789012345678901234567890', '123456789012345678901234567890'],
      ['-99999999999999999999999999999999999999', '-99999999999999999999999999999999999999'],
    ];
    for (const [id, exact] of echoed) {
      const answer = await client.request(`${api.appUrl}/items/${id}?q=a%22b`);
      assert.equal(answer.status, 200, id);
      assert.equal(answer.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(answer.body, `{"item_id":${exact},"q":"a\\"b"}`, id);
    }
  });

  test('an access token works as a bearer token on the same routes', async () => {
    const token = await api.kit.bearerFor({ email: 'user@example.test' });
    const response = await fetch(`${api.appUrl}/items/5`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(await response.text(), '{"item_id":5,"q":null}');
    const expired = await fetch(`${api.appUrl}/items/5`, { headers: { authorization: 'Bearer x.y.z' } });
    assert.equal(expired.status, 401);
    assert.match(expired.headers.get('www-authenticate') ?? '', /invalid_token/);
  });

  test('logout makes / answer 401 again', async () => {
    await client.follow(`${api.appUrl}/api/auth/logout`);
    assert.equal((await client.request(`${api.appUrl}/`)).status, 401);
  });

  test('/openapi.json describes the routes and /docs serves Swagger UI', async () => {
    const document = (await (await fetch(`${api.appUrl}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    assert.equal(document.openapi, '3.0.3');
    assert.ok(document.paths['/items/{item_id}']);
    const item = document.paths['/items/{item_id}'] as {
      get: { parameters: { name: string; schema: Record<string, unknown> }[] };
    };
    const id = item.get.parameters.find((p) => p.name === 'item_id');
    assert.deepEqual(id?.schema, { type: 'string', pattern: '^-?[0-9]{1,4300}$' });
    // The guarded routes' answers are documented, on `/` (no response schema of its own) as on the item route.
    const answers = (path: string) =>
      Object.keys((document.paths[path] as { get: { responses: object } }).get.responses);
    assert.deepEqual(answers('/'), ['401']);
    assert.deepEqual(answers('/items/{item_id}').sort(), ['200', '401']);
    await SwaggerParser.validate(document as never);
    const docs = await new HttpClient().follow(`${api.appUrl}/docs`);
    assert.equal(docs.at(-1)?.status, 200);
    assert.match(docs.at(-1)?.body ?? '', /swagger-ui/i);
  });
});
