import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { HttpClient, login } from 'test-kit';
import { type Rig, startRig } from './setup.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** An app and emulator, and the session cookie of a real login through them. */
async function signedInRig(): Promise<{ rig: Rig; cookie: string }> {
  const rig = await startRig();
  const client = new HttpClient();
  await login(client, rig.appUrl, 'user@example.test');
  const cookie = client.cookies(rig.appUrl).get('kinde_session');
  assert.ok(cookie, 'logged in');
  return { rig, cookie };
}

/** The signed cookie with the first character of its signature changed. */
const tampered = (signed: string) => {
  const at = signed.lastIndexOf('.') + 1;
  return `${signed.slice(0, at)}${signed[at] === 'A' ? 'B' : 'A'}${signed.slice(at + 1)}`;
};

describe('a session cookie has exactly one valid spelling (over HTTP)', () => {
  let rig: Rig;
  let cookie: string;
  before(async () => {
    ({ rig, cookie } = await signedInRig());
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

describe('the session cookie is read from the Cookie header as the cookie package reads it (over HTTP)', () => {
  let rig: Rig;
  let cookie: string;
  before(async () => {
    ({ rig, cookie } = await signedInRig());
  });
  after(() => rig.close());

  const status = async (header: string) =>
    (await fetch(`${rig.appUrl}/`, { headers: { cookie: header } })).status;

  test('among other cookies, spaced, tabbed or percent-encoded, the session is found', async () => {
    const encoded = [...cookie].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');
    for (const header of [
      `a=1; kinde_session=${cookie}; b=2`,
      `kinde_session =\t${cookie} ;x=y`,
      `junk; =nameless; kinde_session=${cookie}`,
      `kinde_session=${encoded}`,
      `xkinde_session=nope; kinde_session=${cookie}`,
    ]) {
      assert.equal(await status(header), 200, header);
    }
  });

  test('the first pair of the name wins, as in @fastify/cookie: a later good cookie does not rescue a bad first one', async () => {
    assert.equal(await status(`kinde_session=forged.value; kinde_session=${cookie}`), 401);
    assert.equal(await status(`kinde_session=${cookie}; kinde_session=forged.value`), 200);
    assert.equal(await status(`kinde_session_x=${cookie}`), 401);
    assert.equal(
      await status(`kinde_session=${cookie}%`),
      401,
      'a broken escape is taken as sent, not dropped',
    );
  });
  test('on one keep-alive connection, a repeated Cookie header still reaches the store each time', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const get = (header: string) =>
      new Promise<number>((resolve, reject) => {
        const request = http.get(`${rig.appUrl}/`, { agent, headers: { cookie: header } }, (response) => {
          sockets.add(response.socket);
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        });
        request.setTimeout(10_000, () => request.destroy(new Error('timed out')));
        request.on('error', reject);
      });
    try {
      const header = `theme=dark; kinde_session=${cookie}`;
      assert.equal(await get(header), 200);
      assert.equal(await get(header), 200);
      assert.equal(
        // One signature character changed (never to itself: replacing the last one with 'A' was the
        // same cookie whenever the signature already ended in 'A', one time in sixteen).
        await get(`theme=dark; kinde_session=${tampered(cookie)}`),
        401,
        'another header is read anew',
      );
      assert.equal(await get(header), 200);
      const id = cookie.slice(0, cookie.lastIndexOf('.'));
      assert.equal(await rig.app.kinde.store.delete(`sess:${id}`), true);
      assert.equal(
        await get(header),
        401,
        'the session ended: the same header is refused on the same connection',
      );
      assert.equal(sockets.size, 1, 'every request went over one connection');
    } finally {
      agent.destroy();
    }
  });
});
