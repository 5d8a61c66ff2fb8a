import { defineConfig } from 'vitest/config';

// Only the Vitest specs: test/*.test.ts is the node:test wrapper that runs this in `npm test`.
export default defineConfig({
  test: { include: ['test/**/*.spec.ts'], testTimeout: 20_000, hookTimeout: 20_000 },
});
