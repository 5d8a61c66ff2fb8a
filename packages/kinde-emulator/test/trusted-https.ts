import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const TLS_DIR = process.env.EMU_MGMT_TLS_DIR;

/**
 * Runs `suite` over https with a certificate Node trusts, for Kinde's clients that only talk https
 * (`@kinde/management-api-js`). Under the test runner, the calling file makes a self-signed
 * certificate for 127.0.0.1 and runs itself again in a child whose `NODE_EXTRA_CA_CERTS` trusts it;
 * in that child, `suite(dir)` registers the tests, with `key.pem` and `cert.pem` in `dir`.
 */
export function overTrustedHttps(title: string, fileUrl: string, suite: (dir: string) => void): void {
  if (TLS_DIR) {
    suite(TLS_DIR);
    return;
  }
  const skip = existsSync('/usr/bin/openssl') ? false : 'openssl is not installed';
  test(`${title} (child process)`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'emu-tls-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem')]
        .concat(['-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'])
        .concat(['-addext', 'subjectAltName=IP:127.0.0.1']),
      { stdio: 'ignore' },
    );
    const { NODE_TEST_CONTEXT: _nested, ...env } = process.env;
    const child = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fileURLToPath(fileUrl)], {
      // Without the runner's NODE_TEST_CONTEXT the child runs its tests instead of skipping as nested.
      env: { ...env, EMU_MGMT_TLS_DIR: dir, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = `${child.stdout}\n${child.stderr}`;
    assert.equal(child.status, 0, out);
    assert.match(out, /# fail 0/);
    assert.doesNotMatch(out, /# pass 0\b/);
  });
}
