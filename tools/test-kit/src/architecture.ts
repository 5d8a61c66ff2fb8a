// A package's ARCHITECTURE.md stays true to its src/: every source file is named on the page by its
// path relative to src/ in backticks (`session/redis.ts`), and every `*.ts` the page names exists
// (relative to src/, or to the package root when it starts with `test/`). The package ships the page.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';

function sourceFiles(src: string, dir = src): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(src, path);
    return entry.name.endsWith('.ts') ? [relative(src, path).split(sep).join('/')] : [];
  });
}

/** Every `*.ts` path the page names, in backticks or not. */
function namedFiles(text: string): string[] {
  return [...new Set(text.match(/(?<![\w./-])[\w-][\w./-]*\.ts(?![\w.])/g) ?? [])];
}

/**
 * Declares the tests that hold the ARCHITECTURE.md of the package at `root` to its sources.
 *
 * @example
 * ```ts
 * architecturePageTests(fileURLToPath(new URL('../../', import.meta.url)));
 * ```
 */
export function architecturePageTests(root: string): void {
  const src = join(root, 'src');
  const page = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8');

  test('the source tree is found', { timeout: 10_000 }, () => {
    assert.ok(sourceFiles(src).length > 10, `no sources under ${src}`);
  });

  test('every file under src/ is named in ARCHITECTURE.md by its path relative to src/', {
    timeout: 10_000,
  }, () => {
    const missing = sourceFiles(src).filter((file) => !page.includes(`\`${file}\``));
    assert.deepEqual(missing, [], `ARCHITECTURE.md does not name: ${missing.join(', ')}`);
  });

  test('every *.ts file ARCHITECTURE.md names exists', { timeout: 10_000 }, () => {
    const named = namedFiles(page);
    assert.ok(named.length > 10, 'the page names no files');
    const absent = named.filter((file) => !existsSync(join(file.startsWith('test/') ? root : src, file)));
    assert.deepEqual(absent, [], `ARCHITECTURE.md names files that do not exist: ${absent.join(', ')}`);
  });

  test('the package ships ARCHITECTURE.md', { timeout: 10_000 }, () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files?: string[] };
    assert.ok(pkg.files?.includes('ARCHITECTURE.md'), 'package.json "files" lacks ARCHITECTURE.md');
  });
}
