// Runs every workspace's compiled tests with Node's test runner under c8 (coverage of the packages'
// sources, mapped back to TypeScript), prints the coverage summary, then repeats the runner's counts
// as the last line so that the counts close the output.
//
// A broken build fails, never hangs: every test fails after TEST_TIMEOUT_MS, every rig and client a
// test opens is closed in an `after` hook even when the test failed, and the whole run is stopped
// after RUN_TIMEOUT_MS, its summary printed all the same. (Not `--test-force-exit`: on Node 24 it
// ended a test file between two synchronous tests now and then, and those tests were then neither
// run nor counted as failed.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const TEST_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 15 * 60_000;
const roots = ['packages', 'examples'];
const files = roots.flatMap((root) =>
  readdirSync(root).flatMap((name) => {
    const dir = join(root, name, 'dist', 'test');
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.test.js'))
          .map((f) => join(dir, f))
      : [];
  }),
);
mkdirSync('coverage', { recursive: true });
const tap = join('coverage', 'tests.tap');
const c8 = [
  '--reporter=none',
  '--include=packages/*/src/**',
  '--include=packages/*/dist/src/**',
  '--exclude-after-remap',
];
const runner = [
  '--test',
  '--test-concurrency=2',
  `--test-timeout=${TEST_TIMEOUT_MS}`,
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=tap',
  `--test-reporter-destination=${tap}`,
  ...files,
];
const run = spawnSync('npx', ['c8', ...c8, process.execPath, ...runner], {
  stdio: 'inherit',
  timeout: RUN_TIMEOUT_MS,
  killSignal: 'SIGKILL',
});
if (run.error) console.error(`\nthe test run was stopped: ${run.error.message}`);
spawnSync('npx', ['c8', 'report', '--reporter=text-summary', '--reporter=lcov', '--exclude-after-remap'], {
  stdio: 'inherit',
});
const summary = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(summary)?.[1] ?? 0);
console.log(`\ntests: ${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped`);
process.exit(run.status ?? 1);
