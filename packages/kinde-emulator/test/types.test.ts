/**
 * Type test for the public API: every type that a public signature names is exported, so a user can
 * name it too. This file must compile (it is built by `npm test`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AuthRequest,
  type CodeGrant,
  createEmulator,
  type Directory,
  defaultDirectory,
  type ExpiringMap,
  type PermissionDefinition,
  type ProtocolStore,
  type RefreshGrant,
  type SsoSession,
} from '../src/index.js';

test('the types reachable from Emulator and Directory can be named', async () => {
  const directory: Directory = defaultDirectory();
  const emu = await createEmulator({ directory });
  try {
    const store: ProtocolStore = emu.context.store;
    const sessions: ExpiringMap<SsoSession> = store.sessions;
    const codes: ExpiringMap<CodeGrant> = store.codes;
    const refreshTokens: ExpiringMap<RefreshGrant> = store.refreshTokens;
    const transactions: ExpiringMap<AuthRequest> = store.transactions;
    assert.equal(sessions.get('none'), undefined);
    assert.equal(codes.get('none'), undefined);
    assert.equal(refreshTokens.get('none'), undefined);
    assert.equal(transactions.get('none'), undefined);
    const permissions: PermissionDefinition[] = emu.directory.permissions ?? [];
    assert.ok(permissions.every((p) => p.id === `perm_${p.key}`));
  } finally {
    await emu.close();
  }
});
