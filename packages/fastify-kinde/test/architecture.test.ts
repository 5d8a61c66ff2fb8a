// ARCHITECTURE.md stays true to src/: every source file is named on the page by its path relative to
// src/ in backticks (`session/redis.ts`), and every `*.ts` the page names exists (relative to src/,
// or to the package root when it starts with `test/`). The package ships the page.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/architecture.test.js: the package root is two folders up.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');
const page = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path).split(sep).join('/')] : [];
  });
}

/** Every `*.ts` path the page names, in backticks or not. */
function namedFiles(text: string): string[] {
  return [...new Set(text.match(/(?<![\w./-])[\w-][\w./-]*\.ts(?![\w.])/g) ?? [])];
}

test('the source tree is found', { timeout: 10_000 }, () => {
  assert.ok(sourceFiles(SRC).length > 10, `no sources under ${SRC}`);
});

test('every file under src/ is named in ARCHITECTURE.md by its path relative to src/', {
  timeout: 10_000,
}, () => {
  const missing = sourceFiles(SRC).filter((file) => !page.includes(`\`${file}\``));
  assert.deepEqual(missing, [], `ARCHITECTURE.md does not name: ${missing.join(', ')}`);
});

test('every *.ts file ARCHITECTURE.md names exists', { timeout: 10_000 }, () => {
  const named = namedFiles(page);
  assert.ok(named.length > 10, 'the page names no files');
  const absent = named.filter((file) => !existsSync(join(file.startsWith('test/') ? ROOT : SRC, file)));
  assert.deepEqual(absent, [], `ARCHITECTURE.md names files that do not exist: ${absent.join(', ')}`);
});

test('the package ships ARCHITECTURE.md', { timeout: 10_000 }, () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files?: string[] };
  assert.ok(pkg.files?.includes('ARCHITECTURE.md'), 'package.json "files" lacks ARCHITECTURE.md');
});
