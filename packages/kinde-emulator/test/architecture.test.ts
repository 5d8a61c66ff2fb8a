// ARCHITECTURE.md stays true to src/ (the rule: tools/test-kit/src/architecture.ts).
import { fileURLToPath } from 'node:url';
import { architecturePageTests } from 'test-kit';

// Compiled to dist/test/architecture.test.js: the package root is two folders up.
architecturePageTests(fileURLToPath(new URL('../../', import.meta.url)));
