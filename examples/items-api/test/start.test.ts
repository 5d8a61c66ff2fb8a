/**
 * `npm start` as a newcomer meets it: the real command at the repository root (which runs the
 * shipped bundle, examples/items-api/dist/main.bundle.mjs), from a clean state. Only the places
 * it keeps its files are moved to a scratch folder, so the run leaves the checkout alone.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { artifactsDir, chromiumMissing, launchChromium } from 'test-kit';
import { authorizeAndCallFromDocs } from './docs-authorize.js';
import { freePort } from './harness.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const ARTIFACTS = artifactsDir();

/** What Node 22 prints once for `node:sqlite` (the default SQLite driver); Node 24 prints nothing. */
const NODE22_SQLITE_WARNING = [
  /^\(node:\d+\) ExperimentalWarning: SQLite is an experimental feature and might change at any time$/,
  /^\(Use `node --trace-warnings \.\.\.` to show where the warning was created\)$/,
];

interface Started {
  child: ChildProcess;
  /** When each port first accepted a connection (performance.now()), polled every few ms from the spawn. */
  firstAccepted: { app?: number; emulator?: number };
  output: () => string;
  appUrl: string;
  issuerUrl: string;
  stop: () => Promise<void>;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` right now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** Records in `into` when each port first accepts, until both have or `until` passes. */
async function watchPorts(
  ports: { app: number; emulator: number },
  into: Started['firstAccepted'],
  until: number,
) {
  while ((into.app === undefined || into.emulator === undefined) && Date.now() < until) {
    // The emulator first: with both up between two polls, the order seen is the order required.
    for (const name of ['emulator', 'app'] as const) {
      if (into[name] === undefined && (await accepts(ports[name]))) into[name] = performance.now();
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs `npm start` in the repository root, in its own process group so that stopping it stops node too. */
async function npmStart(scratch: string): Promise<Started> {
  const [port, emulatorPort] = [await freePort(), await freePort()];
  const { KINDE_ISSUER_URL: _, KINDE_DOCS_CLIENT_ID: __, SESSION_STORE: ___, ...inherited } = process.env;
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...inherited,
      // The Node running this test runs the app too.
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      PORT: String(port),
      EMULATOR_PORT: String(emulatorPort),
      EMULATOR_KEY_FILE: join(scratch, 'kinde-emulator-keys.json'),
      DEV_SESSION_SECRET_FILE: join(scratch, 'dev-session-secret'),
      SESSION_SQLITE_PATH: join(scratch, 'sessions.db'),
    },
  });
  const firstAccepted: Started['firstAccepted'] = {};
  const watching = watchPorts({ app: port, emulator: emulatorPort }, firstAccepted, Date.now() + 20_000);
  let text = '';
  child.stdout?.on('data', (d) => (text += d));
  child.stderr?.on('data', (d) => (text += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const end = Date.now() + 20_000;
  while (!text.includes('Kinde emulator http')) {
    if (child.exitCode !== null || Date.now() > end) {
      await stop();
      throw new Error(`npm start did not come up: ${text}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  await watching;
  return {
    child,
    firstAccepted,
    output: () => text,
    appUrl: `http://127.0.0.1:${port}`,
    issuerUrl: `http://127.0.0.1:${emulatorPort}`,
    stop,
  };
}

/** The app's and emulator's own lines: without npm's header and Node 22's one SQLite warning. */
function ownLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('> '))
    .filter((line) => !NODE22_SQLITE_WARNING.some((warning) => warning.test(line)));
}

describe('npm start, as a newcomer runs it', { skip: chromiumMissing }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'items-api-npm-start-'));
  let started: Started;
  let browser: Browser;
  before(async () => {
    started = await npmStart(scratch);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await started?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('the emulator listens before the app does', () => {
    const { app, emulator } = started.firstAccepted;
    assert.ok(app !== undefined && emulator !== undefined, 'both ports accepted');
    assert.ok(emulator <= app, `the app listened ${Math.round(emulator - app)} ms before the emulator`);
  });

  test('a clean start prints the two URLs and nothing else: no warning that the identity provider is not reachable', async () => {
    // The plugin warms discovery 200 ms after the app is ready; a login needs discovery too.
    await new Promise((r) => setTimeout(r, 1_000));
    const login = await fetch(`${started.appUrl}/api/auth/login`, { redirect: 'manual' });
    assert.equal(login.status, 302);
    const lines = ownLines(started.output());
    assert.equal(lines.length, 2, started.output());
    assert.match(lines[0] ?? '', new RegExp(`^items API +${started.appUrl} `));
    assert.match(lines[1] ?? '', new RegExp(`^Kinde emulator ${started.issuerUrl} `));
  });

  test('/docs → Authorize signs in through the emulator as the docs client, then calls /items/420', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000); // a broken flow fails in seconds, not 30
    try {
      await authorizeAndCallFromDocs(page, started, ARTIFACTS, 'npm-start');
    } finally {
      await page.close();
    }
  });
});
