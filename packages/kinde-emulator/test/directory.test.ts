import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import {
  createEmulator,
  type Directory,
  DirectoryError,
  defaultDirectory,
  loadDirectoryFile,
  startEmulator,
  validateDirectory,
} from '../src/index.js';
import { authUrl, baseAuthParams, get } from './helpers.js';

const pkg = new URL('../../', import.meta.url);
const examplePath = new URL('examples/directory.example.json', pkg).pathname;
const schema = JSON.parse(readFileSync(new URL('schema/directory.schema.json', pkg), 'utf8'));

function errorOf(input: unknown): DirectoryError {
  try {
    validateDirectory(input);
  } catch (err) {
    assert.ok(err instanceof DirectoryError);
    return err;
  }
  assert.fail('expected a DirectoryError');
}

test('the default directory validates and is a fresh copy each time', () => {
  const a = defaultDirectory();
  const b = defaultDirectory();
  a.users.pop();
  assert.equal(b.users.length, 2);
  assert.deepEqual(validateDirectory(defaultDirectory()), defaultDirectory());
});

test('the example file loads, with derived user ids and Kinde lifetimes', () => {
  const dir = loadDirectoryFile(examplePath);
  assert.equal(dir.users.length, 2);
  assert.match(dir.users[1]?.id ?? '', /^kp_[0-9a-f]{32}$/);
  assert.equal(dir.applications[1]?.clientSecret, undefined);
  assert.deepEqual(dir.tokenLifetimes, { accessToken: 86400, idToken: 3600, refreshToken: 1296000 });
});

test('bad directories are refused with the field named', () => {
  // biome-ignore lint/suspicious/noExplicitAny: the cases mutate arbitrary JSON on purpose
  type Doc = Record<string, any>;
  const base = () => JSON.parse(readFileSync(examplePath, 'utf8')) as Doc;
  const cases: [(d: Doc) => void, string, RegExp][] = [
    [(d) => (d.users[0].email = 'nope'), 'users[0].email', /email/],
    [(d) => (d.users[1].emial = 'x'), 'users[1].emial', /not a known field/],
    [(d) => (d.applications[0].clientSecret = 'short'), 'applications[0].clientSecret', /40-60/],
    [
      (d) => (d.users[0].organizations[0].orgCode = 'org_nope'),
      'users[0].organizations[0].orgCode',
      /org_nope/,
    ],
    [(d) => (d.users[0].organizations[0].roles = ['owner']), 'users[0].organizations[0].roles[0]', /owner/],
    [(d) => (d.users[1].email = 'ADMIN@example.test'), 'users[1].email', /duplicates/],
    [(d) => (d.applications[0].redirectUris = ['/relative']), 'applications[0].redirectUris[0]', /absolute/],
    [(d) => (d.applications[0].grants = ['password']), 'applications[0].grants[0]', /one of/],
    [(d) => (d.applications[1].grants = ['client_credentials']), 'applications[1].clientSecret', /required/],
    [(d) => (d.tokenLifetimes.accessToken = -1), 'tokenLifetimes.accessToken', /positive/],
    [(d) => (d.organizations[0].featureFlags.theme = 1.5), 'organizations[0].featureFlags.theme', /integer/],
    [(d) => (d.applications = []), 'applications', /at least one/],
  ];
  for (const [mutate, field, problem] of cases) {
    const d = base();
    mutate(d);
    const err = errorOf(d);
    assert.equal(err.field, field);
    assert.match(err.message, problem);
  }
  assert.equal(errorOf([]).field, '(root)');
});

test('a bad file names the file and the field; invalid JSON is reported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emu-dir-'));
  const file = join(dir, 'users.json');
  writeFileSync(file, '{"users": [], "applications": [{"clientId": "a b"}]}');
  assert.throws(() => loadDirectoryFile(file), /users\.json: applications\[0\]\.clientId: must be letters/);
  writeFileSync(file, '{"users": [');
  assert.throws(() => loadDirectoryFile(file), /users\.json: not valid JSON/);
  assert.throws(
    () => loadDirectoryFile(join(dir, 'missing.json')),
    /cannot read the directory file \(ENOENT\)/,
  );
});

test('the JSON Schema accepts the example and the default directory, and rejects bad ones', async () => {
  const app = Fastify({
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
  });
  app.post('/', { schema: { body: schema } }, async () => ({ ok: true }));
  const send = (payload: unknown) => app.inject({ method: 'POST', url: '/', payload: payload as object });
  assert.equal((await send(JSON.parse(readFileSync(examplePath, 'utf8')))).statusCode, 200);
  assert.equal((await send(defaultDirectory())).statusCode, 200);
  const bad = defaultDirectory() as Directory & { extra?: boolean };
  bad.extra = true;
  assert.equal((await send(bad)).statusCode, 400);
  const badSecret = defaultDirectory();
  (badSecret.applications[0] as { clientSecret: string }).clientSecret = 'x';
  assert.equal((await send(badSecret)).statusCode, 400);
  await app.close();
});

test('programmatic directories are validated too', async () => {
  const dir = defaultDirectory();
  (dir.users[0] as { email: string }).email = 'not-an-email';
  await assert.rejects(createEmulator({ directory: dir }), /users\[0\]\.email/);
});

test('the directory file is reloaded on change; a bad change keeps the previous one', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'emu-watch-'));
  const file = join(folder, 'users.json');
  const doc = JSON.parse(readFileSync(examplePath, 'utf8'));
  writeFileSync(file, JSON.stringify(doc));
  const events: (Error | undefined)[] = [];
  let notify: () => void = () => {};
  const emu = await startEmulator({
    directoryFile: file,
    onDirectoryReload: (err) => {
      events.push(err);
      notify();
    },
  });
  const next = () => new Promise<void>((resolve) => (notify = resolve));
  try {
    const params = baseAuthParams({
      client_id: 'items_api',
      redirect_uri: 'http://127.0.0.1:8000/api/auth/kinde_callback',
    });
    assert.doesNotMatch(await (await get(authUrl(emu, params))).text(), /zoe@example\.test/);
    doc.users.push({ email: 'zoe@example.test', givenName: 'Zoe', familyName: 'Zed', organizations: [] });
    let changed = next();
    writeFileSync(file, JSON.stringify(doc));
    await changed;
    assert.equal(events.at(-1), undefined);
    assert.match(await (await get(authUrl(emu, params))).text(), /zoe@example\.test/);
    changed = next();
    writeFileSync(file, '{"users": 1}');
    await changed;
    assert.match(String(events.at(-1)?.message), /users\.json: users: must be an array/);
    assert.equal(emu.directory.users.length, 3);
  } finally {
    await emu.close();
  }
});
