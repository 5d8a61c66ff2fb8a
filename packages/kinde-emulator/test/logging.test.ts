import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEmulator } from '../src/index.js';
import { baseAuthParams, CLIENT_ID, CLIENT_SECRET, exchangeCode, get, login, token } from './helpers.js';

test('logs never contain tokens, codes, secrets or cookie values', async () => {
  const lines: string[] = [];
  const emu = await startEmulator({ logger: { level: 'trace', stream: { write: (m) => lines.push(m) } } });
  try {
    const r = await login(emu, 'admin@example.test', baseAuthParams({ login_hint: 'admin@example.test' }));
    const t = await exchangeCode(emu, r.code);
    const rt = await token(emu, {
      grant_type: 'refresh_token',
      refresh_token: String(t.body.refresh_token),
      client_id: CLIENT_ID,
    });
    await fetch(`${emu.issuerUrl}/oauth2/v2/user_profile`, {
      headers: { authorization: `Bearer ${t.body.access_token}` },
    });
    await get(
      `${emu.issuerUrl}/logout?id_token_hint=${t.body.id_token}&redirect=http://127.0.0.1:1/`,
      r.cookie,
    );
    await token(emu, {
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: 'WrongSecretValue0123456789',
    });
    // Unknown routes and malformed URLs carry their query into no log line either.
    await fetch(`${emu.issuerUrl}/nope?access_token=${t.body.access_token}`);
    await fetch(`${emu.issuerUrl}/oauth2/auth?x=%zz&id_token_hint=${t.body.id_token}`);
    await fetch(`${emu.issuerUrl}/%zz?code=${r.code}`);
    const log = lines.join('');
    assert.ok(lines.length > 5, 'the logger wrote something');
    const secrets = [
      r.code,
      String(r.cookie?.split('=')[1]),
      CLIENT_SECRET,
      'WrongSecretValue0123456789',
      String(t.body.access_token),
      String(t.body.id_token),
      String(t.body.refresh_token),
      String(rt.body.refresh_token),
      'admin@example.test',
    ];
    for (const secret of secrets) assert.equal(log.includes(secret), false, 'a secret leaked into the log');
  } finally {
    await emu.close();
  }
});
