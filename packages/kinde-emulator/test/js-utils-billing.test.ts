import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import {
  clearActiveStorage,
  getEntitlement,
  getEntitlements,
  has,
  MemoryStorage,
  StorageKeys,
  setActiveStorage,
} from '@kinde/js-utils';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';

/**
 * Compatibility: Kinde's own `@kinde/js-utils` reads the emulator's billing entitlements (every page,
 * by its `starting_after` loop) and answers `has({ billingEntitlements })` from them.
 */

let emu: Emulator;
before(async () => {
  const dir = defaultDirectory();
  dir.plans = [
    {
      key: 'pro',
      entitlements: Array.from({ length: 15 }, (_, i) => ({
        featureKey: `seats_${i}`,
        priceName: `Seats ${i}`,
        limitMax: 10 + i,
      })),
    },
  ];
  dir.organizations[0]!.plans = ['pro'];
  emu = await startEmulator({ port: 0, directory: dir });
});
after(() => emu.close());
afterEach(() => clearActiveStorage());

async function signedIn(user: string): Promise<void> {
  const storage = new MemoryStorage();
  await storage.setSessionItem(
    StorageKeys.accessToken,
    (await emu.control.issueTokens({ user })).access_token,
  );
  setActiveStorage(storage);
}

test('js-utils getEntitlements follows the pages; getEntitlement and has() agree', async () => {
  await signedIn('admin@example.test');
  const all = await getEntitlements();
  assert.equal(all.orgCode, 'org_0000000001');
  assert.equal(all.entitlements.length, 15, 'both pages, no duplicates');
  assert.equal(new Set(all.entitlements.map((e: { id: string }) => e.id)).size, 15);
  assert.equal(all.entitlements[14]?.featureKey, 'seats_14');
  assert.equal(all.entitlements[14]?.entitlementLimitMax, 24);
  const one = await getEntitlement('seats_3');
  assert.equal(one.entitlement.priceName, 'Seats 3');
  assert.equal(await has({ billingEntitlements: ['Seats 0', 'Seats 14'] }), true);
  assert.equal(await has({ billingEntitlements: ['Seats 99'] }), false);
  assert.equal(
    await has({
      billingEntitlements: [
        {
          entitlement: 'Seats 2',
          condition: (e: { entitlementLimitMax: number }) => e.entitlementLimitMax >= 12,
        },
      ],
    }),
    true,
  );
});
