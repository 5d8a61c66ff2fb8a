import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  generateSigningKey,
  type KeyRing,
  loadKey,
  type SigningKey,
  type StoredKey,
  storeKey,
} from './keys.js';

interface KeyFile {
  /** Marks the file as emulator dev keys, never to be used in production. */
  warning: string;
  keys: StoredKey[];
  pending?: StoredKey;
}

const WARNING = 'Development signing keys of kinde-emulator. Never use them in production. Safe to delete.';

/**
 * Loads the signing keys from a dev key file, or creates the file with a fresh key, so restarts keep
 * issued tokens valid. The file is written with mode 0600.
 */
export async function loadOrCreateKeys(
  path: string,
  nowSeconds: number,
): Promise<{ keys: SigningKey[]; pending?: SigningKey }> {
  if (existsSync(path)) {
    let parsed: KeyFile;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
      if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error('no "keys"');
    } catch (err) {
      throw new Error(
        `${path}: not a kinde-emulator key file (${(err as Error).message}); delete it to start over`,
      );
    }
    const keys = await Promise.all(parsed.keys.map(loadKey));
    return parsed.pending ? { keys, pending: await loadKey(parsed.pending) } : { keys };
  }
  const keys = [await generateSigningKey(nowSeconds)];
  await writeKeys(path, keys, undefined);
  return { keys };
}

async function writeKeys(path: string, keys: SigningKey[], pending: SigningKey | undefined): Promise<void> {
  const file: KeyFile = { warning: WARNING, keys: await Promise.all(keys.map(storeKey)) };
  if (pending) file.pending = await storeKey(pending);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Writes the current key ring (after a rotation) to the key file. */
export async function saveKeys(path: string, ring: KeyRing): Promise<void> {
  await writeKeys(path, ring.keys, ring.pending);
}
