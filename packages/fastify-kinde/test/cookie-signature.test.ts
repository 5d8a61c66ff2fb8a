import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpClient, login } from 'test-kit';
import { type Rig, startRig } from './setup.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('a session cookie has exactly one valid spelling (over HTTP)', () => {
  let rig: Rig;
  let cookie: string;
  before(async () => {
    rig = await startRig();
    const client = new HttpClient();
    await login(client, rig.appUrl, 'user@example.test');
    const value = client.cookies(rig.appUrl).get('kinde_session');
    assert.ok(value, 'logged in');
    cookie = value;
  });
  after(() => rig.close());

  const status = async (value: string) =>
    (await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${value}` } })).status;

  test('the cookie as set answers 200; every other spelling of its signature answers 401', async () => {
    assert.equal(await status(cookie), 200);
    const dot = cookie.lastIndexOf('.');
    const [value, signature] = [cookie.slice(0, dot), cookie.slice(dot + 1)];
    const last = signature.at(-1)!;
    const spellings = [
      ...[1, 2, 3].map((bits) => signature.slice(0, -1) + ALPHABET[ALPHABET.indexOf(last) ^ bits]),
      `${signature}=`,
      `${Buffer.from(signature, 'base64url').toString('base64')}`,
      `${signature}!`,
      `${signature}%21`,
    ];
    for (const spelling of spellings) {
      assert.notEqual(spelling, signature);
      assert.equal(await status(`${value}.${spelling}`), 401, spelling);
    }
  });
});
