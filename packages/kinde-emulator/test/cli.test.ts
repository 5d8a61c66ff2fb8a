import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCli } from '../src/cli.js';

const bin = new URL('../../bin/kinde-emulator.js', import.meta.url).pathname;
const example = new URL('../../examples/directory.example.json', import.meta.url).pathname;

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: mkdtempSync(join(tmpdir(), 'emu-cli-')),
    env: { ...process.env, NODE_ENV: 'development', ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return { child, out: () => out, err: () => err };
}

/** Waits, at most `ms`, until the CLI printed its banner: a CLI that crashed or hangs fails the test. */
async function banner(p: ReturnType<typeof run>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!p.out().includes('Development only')) {
    if (Date.now() > deadline || p.child.exitCode !== null) {
      p.child.kill('SIGKILL');
      throw new Error(`the CLI printed no banner within ${ms} ms: ${p.out()}${p.err()}`);
    }
    await Promise.race([once(p.child.stdout, 'data'), new Promise((r) => setTimeout(r, 200))]);
  }
}

test('parseCli: defaults and errors', () => {
  const o = parseCli([]);
  assert.ok(o !== 'help');
  assert.equal(o.port, 8001);
  assert.equal(o.keyFile, '.data/kinde-emulator-keys.json');
  assert.equal(parseCli(['--help']), 'help');
  assert.throws(() => parseCli(['--port', 'abc']), /--port must be a whole number/);
  assert.throws(() => parseCli(['--nope']), /Unknown option/);
  assert.throws(() => parseCli(['--tls-key', 'k.pem']), /--tls-key and --tls-cert go together/);
});

test('CLI prints the issuer and KINDE_* lines, serves discovery, and stops on SIGTERM', async () => {
  const p = run(['--port', '0', '--directory', example, '--ephemeral-keys']);
  await banner(p);
  const issuer = /KINDE_ISSUER_URL=(\S+)/.exec(p.out())?.[1] ?? '';
  assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(p.out(), /KINDE_CLIENT_ID=items_api\n/);
  assert.match(p.out(), /KINDE_CLIENT_SECRET=ItemsApiDevSecret/);
  assert.match(p.out(), /admin@example\.test {2}\(Ada Admin\)/);
  const doc = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    issuer: string;
  };
  assert.equal(doc.issuer, issuer);
  p.child.kill('SIGTERM');
  const [code] = await once(p.child, 'exit');
  assert.equal(code, 0);
});

test('CLI: port in use, bad directory and NODE_ENV=production are one-line errors', async () => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const port = (blocker.address() as { port: number }).port;
  try {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['--port', String(port), '--ephemeral-keys'], {}, /^kinde-emulator: port already in use/],
      [['--port', '0', '--directory', 'missing.json'], {}, /^kinde-emulator: missing\.json: cannot read/],
      [
        ['--port', '0'],
        { NODE_ENV: 'production' },
        /^kinde-emulator: kinde-emulator refuses to run with NODE_ENV=production/,
      ],
      [
        ['--port', '0'],
        { NODE_ENV: 'staging' },
        /^kinde-emulator: kinde-emulator refuses to run with NODE_ENV=staging: it runs only when NODE_ENV is unset/,
      ],
      [
        ['--port', '0', '--host', '0.0.0.0'],
        {},
        /^kinde-emulator: kinde-emulator refuses to listen on 0\.0\.0\.0: other machines could reach it/,
      ],
    ];
    for (const [args, env, expected] of cases) {
      const p = run(args, env);
      // Bounded: an emulator that starts when it should refuse is killed, and the test fails.
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
      const [code] = await once(p.child, 'exit');
      clearTimeout(timer);
      assert.equal(code, 1, args.join(' '));
      assert.match(p.err(), expected);
      assert.equal(p.err().trim().split('\n').length, 1);
    }
  } finally {
    blocker.close();
  }
});

test('CLI: --allow-remote listens beyond loopback, with a warning on stderr', async () => {
  const p = run(['--port', '0', '--host', '0.0.0.0', '--allow-remote', '--ephemeral-keys']);
  try {
    await banner(p);
    assert.match(p.out(), /KINDE_ISSUER_URL=http:\/\/127\.0\.0\.1:\d+/);
    assert.match(
      p.err(),
      /KindeEmulatorWarning: kinde-emulator listens on 0\.0\.0\.0: any machine that reaches it/,
    );
  } finally {
    p.child.kill('SIGTERM');
    await once(p.child, 'exit');
  }
});
