import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { isAtobSafeKid, startEmulator } from '../src/index.js';
import { newKid } from '../src/keys.js';
import { CLIENT_ID, CLIENT_SECRET, token } from './helpers.js';

const cc = { grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET };

async function jwks(issuer: string) {
  return (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
}

test('kids are atob-safe', () => {
  for (let i = 0; i < 200; i++) assert.ok(isAtobSafeKid(newKid()));
  assert.equal(isAtobSafeKid('a-b'), false);
  assert.equal(isAtobSafeKid('emu?key'), false);
});

test('key file: created with mode 0600, reused after a restart so tokens stay valid', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'emu-keys-')), 'sub', 'keys.json');
  const first = await startEmulator({ keyFile: file, port: 0 });
  const issued = String((await token(first, cc)).body.access_token);
  const kid = first.keys.active.kid;
  const port = Number(new URL(first.issuerUrl).port);
  await first.close();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.doesNotMatch(readFileSync(file, 'utf8'), /EmulatorDevSecret/);
  const second = await startEmulator({ keyFile: file, port });
  try {
    assert.equal(second.keys.active.kid, kid);
    const set = createLocalJWKSet(await jwks(second.issuerUrl));
    await jwtVerify(issued, set, { issuer: second.issuerUrl });
  } finally {
    await second.close();
  }
  writeFileSync(file, '{"nope": true}');
  await assert.rejects(startEmulator({ keyFile: file }), /not a kinde-emulator key file/);
});

test('rotation: the next key is published before it signs; the old stays published', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'emu-rot-')), 'keys.json');
  const emu = await startEmulator({ keyFile: file });
  try {
    const oldKid = emu.keys.active.kid;
    const oldToken = String((await token(emu, cc)).body.access_token);
    const prepared = (await (
      await fetch(`${emu.issuerUrl}/_emulator/keys/prepare`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      })
    ).json()) as { kid: string };
    assert.deepEqual(
      (await jwks(emu.issuerUrl)).keys.map((k) => k.kid),
      [oldKid, prepared.kid],
    );
    assert.equal(decodeProtectedHeader(String((await token(emu, cc)).body.access_token)).kid, oldKid);
    const rotated = await emu.control.rotateKeys();
    assert.equal(rotated.kid, prepared.kid);
    const newToken = String((await token(emu, cc)).body.access_token);
    assert.equal(decodeProtectedHeader(newToken).kid, prepared.kid);
    const set = createLocalJWKSet(await jwks(emu.issuerUrl));
    await jwtVerify(oldToken, set);
    await jwtVerify(newToken, set);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).keys.length, 2);
    // Once the old key's tokens have all expired, the next rotation unpublishes it.
    emu.clock.advance(86_400 + 10);
    await emu.control.rotateKeys();
    const kids = (await jwks(emu.issuerUrl)).keys.map((k) => k.kid);
    assert.equal(kids.includes(oldKid), false);
    assert.equal(kids.length, 2);
  } finally {
    await emu.close();
  }
});
