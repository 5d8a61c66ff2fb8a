import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Directory } from './types.js';
import { DirectoryError, validateDirectory } from './validate.js';

/**
 * Reads and validates a directory JSON file. Errors name the file and the field.
 *
 * @example
 * const directory = loadDirectoryFile('./users.json');
 */
export function loadDirectoryFile(path: string): Directory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(
      `${path}: cannot read the directory file (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  try {
    return validateDirectory(json);
  } catch (err) {
    if (err instanceof DirectoryError) throw new Error(`${path}: ${err.message}`);
    throw err;
  }
}

/**
 * Watches a directory file and calls `onChange` with the new, valid directory after each change
 * (editors that replace the file are handled by watching its folder). A bad file calls `onError`
 * and the previous directory stays in use. Returns a function that stops watching.
 */
export function watchDirectoryFile(
  path: string,
  onChange: (dir: Directory) => void,
  onError: (err: Error) => void,
): () => void {
  const full = resolve(path);
  const name = basename(full);
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dirname(full), (_event, file) => {
    if (file !== null && file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        onChange(loadDirectoryFile(full));
      } catch (err) {
        onError(err as Error);
      }
    }, 50);
  });
  watcher.on('error', (err) => onError(err));
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
