import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { HttpClient, login, type Running, startItemsApi } from './harness.js';

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

  test('after a login through redirects, / and /items answer as in the tutorial', async () => {
    const hops = await login(client, api.appUrl, 'admin@example.test');
    assert.equal(hops.at(-1)?.body, '{"Hello":"World"}');
    assert.equal((await client.request(`${api.appUrl}/items/420`)).body, '{"item_id":420,"q":null}');
    assert.equal((await client.request(`${api.appUrl}/items/7?q=box`)).body, '{"item_id":7,"q":"box"}');
    const me = JSON.parse((await client.request(`${api.appUrl}/me`)).body);
    assert.equal(me.email, 'admin@example.test');
  });

  test('a non-integer item id is a clear 400', async () => {
    for (const id of ['abc', '4.2', '1e3x']) {
      const answer = await client.request(`${api.appUrl}/items/${id}`);
      assert.equal(answer.status, 400, id);
      assert.match(JSON.parse(answer.body).message, /item_id must be integer/);
    }
  });

  test('an access token works as a bearer token on the same routes', async () => {
    const { access_token: token } = await api.emulator.control.issueTokens({ user: 'user@example.test' });
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
    assert.ok(document.paths['/']);
    await SwaggerParser.validate(document as never);
    const docs = await new HttpClient().follow(`${api.appUrl}/docs`);
    assert.equal(docs.at(-1)?.status, 200);
    assert.match(docs.at(-1)?.body ?? '', /swagger-ui/i);
  });
});
