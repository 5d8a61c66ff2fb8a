import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEmulator } from '../src/index.js';

const skip = existsSync('/usr/bin/openssl') ? false : 'openssl is not installed';

function fetchJson(url: string, ca: Buffer): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

test('https: the issuer is https:// and discovery and JWKS are served over TLS', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emu-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const ca = readFileSync(cert);
  const emu = await startEmulator({ https: { key: readFileSync(key), cert: ca } });
  try {
    assert.match(emu.issuerUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const doc = await fetchJson(`${emu.issuerUrl}/.well-known/openid-configuration`, ca);
    assert.equal(doc.issuer, emu.issuerUrl);
    assert.equal(doc.jwks_uri, `${emu.issuerUrl}/.well-known/jwks.json`);
    const jwks = await fetchJson(`${emu.issuerUrl}/.well-known/jwks.json`, ca);
    assert.equal((jwks.keys as unknown[]).length, 1);
  } finally {
    await emu.close();
  }
});
