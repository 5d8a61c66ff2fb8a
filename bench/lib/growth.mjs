// Growth: protected-route throughput and resident memory with many stored sessions. Each size runs
// in its own server; the store is filled through its own API with copies of one real session, and
// the load uses that real session's cookie. Sizes of one store are loaded in interleaved rounds.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from 'test-kit';
import { runLoad, waitForQuiet } from './load.mjs';
import { sessionCookie } from './login.mjs';
import { startServer } from './proc.mjs';

const KINDE = new URL('../servers/kinde.mjs', import.meta.url).pathname;
/** The memory store's cap on `maxEntries` (MEMORY_STORE_MAX_ENTRIES in session/memory.ts). */
export const MEMORY_CAP = 100_000;

/** @param {string} url */
async function memory(url) {
  return /** @type {{ rss: number, heapUsed: number }} */ (
    await (await fetch(`${url}/_bench/memory`)).json()
  );
}

/** @param {string} path */
function fileBytes(path) {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      // absent
    }
  }
  return total;
}

/**
 * Fills the server's store with `n` sessions, or gives up past `budgetS` seconds.
 *
 * @param {string} url
 * @param {number} n
 * @param {number} budgetS
 * @returns {Promise<{ filled: number, seconds: number }>}
 */
async function fill(url, n, budgetS) {
  const started = performance.now();
  let filled = 0;
  while (filled < n) {
    const chunk = Math.min(n - filled, filled === 0 ? 10_000 : 100_000);
    const response = await fetch(`${url}/_bench/fill?n=${chunk}`, { method: 'POST' });
    if (response.status !== 200)
      throw new Error(`fill answered ${response.status}: ${await response.text()}`);
    filled += chunk;
    const seconds = (performance.now() - started) / 1000;
    const rate = filled / seconds;
    if (filled < n && seconds + (n - filled) / rate > budgetS) return { filled, seconds };
  }
  return { filled, seconds: (performance.now() - started) / 1000 };
}

/**
 * @param {object} options
 * @param {'memory' | 'sqlite'} options.store
 * @param {number[]} options.sizes
 * @param {{ issuerUrl: string, clientId: string, clientSecret: string }} options.emulator
 * @param {string} options.scratch            a temporary folder for SQLite files
 * @param {{ seconds: number, rounds: number, warm: number, fillBudgetS: number }} options.plan
 * @param {(line: string) => void} options.log
 * @param {number[]} options.ownPids     the emulator: bench CPU, not foreign
 * @param {typeof runLoad} [options.load]  the load generator (default autocannon)
 */
export async function measureGrowth({ store, sizes, emulator, scratch, plan, log, ownPids, load = runLoad }) {
  /** @type {any[]} */
  const entries = [];
  /** @type {any[]} */
  const capped = [];
  try {
    for (const n of sizes) {
      // The memory store takes at most MEMORY_CAP entries (its intended scale): larger sizes are not
      // run, and the size at the cap leaves room for the logged-in session it must not evict.
      if (store === 'memory' && n > MEMORY_CAP) {
        capped.push({
          store,
          sessions: n,
          status: `n/a (over the store's cap of ${MEMORY_CAP.toLocaleString('en')} sessions)`,
        });
        continue;
      }
      const dbPath = join(scratch, `growth-${store}-${n}.db`);
      const server = await startServer(KINDE, {
        nodeArgs: ['--expose-gc', '--max-old-space-size=16384'],
        env: {
          PORT: String(await freePort()),
          ISSUER_URL: emulator.issuerUrl,
          CLIENT_ID: emulator.clientId,
          CLIENT_SECRET: emulator.clientSecret,
          STORE: store,
          SQLITE_PATH: dbPath,
          MAX_ENTRIES: String(store === 'memory' ? MEMORY_CAP : Math.max(100_000, n + 10_000)),
        },
      });
      const entry = {
        store,
        sessions: store === 'memory' ? Math.min(n, MEMORY_CAP - 1_000) : n,
        server,
        dbPath,
        cookie: '',
        rounds: /** @type {any[]} */ ([]),
      };
      entries.push(entry);
      const url = server.info.url;
      entry.cookie = await sessionCookie(url, /kinde_session$/);
      const before = await memory(url);
      const filled = await fill(url, entry.sessions, plan.fillBudgetS);
      const after = await memory(url);
      Object.assign(entry, {
        filled: filled.filled,
        fillSeconds: filled.seconds,
        rssBytes: after.rss,
        heapUsedBytes: after.heapUsed,
        bytesPerSession: (after.rss - before.rss) / filled.filled,
        heapBytesPerSession: (after.heapUsed - before.heapUsed) / filled.filled,
        diskBytesPerSession: store === 'sqlite' ? fileBytes(dbPath) / filled.filled : null,
      });
      log(
        `  ${store} ${n.toLocaleString('en')}: filled ${filled.filled.toLocaleString('en')} in ${filled.seconds.toFixed(1)} s, RSS ${(after.rss / 2 ** 20).toFixed(0)} MiB`,
      );
      await runLoad({
        url: `${url}/`,
        pid: server.pid,
        seconds: plan.warm,
        headers: { cookie: entry.cookie },
      });
    }
    for (let round = 0; round < plan.rounds; round++) {
      for (const entry of entries) {
        if (entry.filled < entry.sessions) continue;
        await waitForQuiet(5_000);
        const result = await load({
          ownPids,
          url: `${entry.server.info.url}/`,
          pid: entry.server.pid,
          seconds: plan.seconds,
          headers: { cookie: entry.cookie },
        });
        entry.rounds.push(result);
        log(
          `  ${store} ${entry.sessions.toLocaleString('en')}: ${Math.round(result.rps)} req/s, ${result.cpuPerReqUs.toFixed(1)} µs CPU/req, other load ${result.foreignPct.toFixed(0)}%`,
        );
      }
    }
  } finally {
    for (const entry of entries) {
      await entry.server.stop();
      for (const suffix of ['', '-wal', '-shm']) rmSync(entry.dbPath + suffix, { force: true });
    }
  }
  return [
    ...entries.map(({ server: _server, cookie: _cookie, dbPath: _dbPath, ...rest }) => rest),
    ...capped,
  ];
}
