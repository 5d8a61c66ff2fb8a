// Runs this example's Vitest specs (`vitest run`) from the repository's node:test suite, so that
// `npm test` covers the Vitest example too.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

test('the Vitest example passes under `vitest run`', { timeout: 150_000 }, async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [vitest, 'run', '--reporter=verbose', '--no-color'],
      { cwd: example, timeout: 120_000, env: { ...process.env, CI: '1', NO_COLOR: '1' } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number) ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  assert.match(output, /Tests\s+5 passed \(5\)/, output);
});
