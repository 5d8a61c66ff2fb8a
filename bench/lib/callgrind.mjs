// Work per request counted in instructions instead of seconds. A server runs under valgrind's
// callgrind, which counts every user-space instruction the process executes, in all its threads (the
// JavaScript V8 compiled, V8's builtins, Node's C++, libuv, OpenSSL, SQLite; not the kernel). The count
// does not depend on what else the machine is doing: on a shared VM whose speed drifts by ±20% between
// two 2 s runs, the same requests to the same process count the same within a few per cent. It also
// leaves out what a noisy VM adds to each instruction (cache and TLB misses from its neighbours), which
// is why the bench reports it beside the wall-clock CPU, not instead of it.
//
// A server under callgrind runs 20–50 times slower; the requests come from this process (an exact
// number of them, over keep-alive connections), and `callgrind_control` zeroes the counters before a
// measured batch and dumps them after it.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

/**
 * The young generation of a counted server: the size V8 gives it in the wall-clock runs. Every server
 * of the bench, bare Fastify and the example app alike, settles there at 16 MB (two 8 MB semi-spaces,
 * a scavenge every 1,000 to 1,100 requests). Under callgrind, 20 to 50 times slower, V8 keeps it at
 * 2 MB instead (a scavenge every 160 requests), which charged each row about six times its garbage
 * collection, more to a row that allocates more, and by an amount that changed from one process to the
 * next (about 3,700 instructions per request between two processes of the same baseline).
 */
export const YOUNG_GENERATION = ['--min-semi-space-size=8'];

/** True when valgrind (with callgrind) and callgrind_control are installed. */
export function callgrindAvailable() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The command that runs a node process under callgrind, its dumps written to `dir` (one file per dump,
 * `cg.<pid>.out.<n>`). By default only the totals are needed: no per-line or per-instruction data.
 * With `detail`, each dump also holds the cost of every instruction address and the calls between
 * functions, uncompressed, for `instruction-diff.mjs` (which names JIT code from V8's perf map). With
 * `cacheSim`, callgrind also simulates the caches and each dump counts their misses.
 *
 * @param {string} dir
 * @param {{ detail?: boolean, cacheSim?: boolean }} [options]
 */
export function callgrindWrap(dir, { detail = false, cacheSim = false } = {}) {
  return [
    'valgrind',
    '--tool=callgrind',
    '--quiet',
    `--callgrind-out-file=${join(dir, 'cg.%p.out')}`,
    '--dump-line=no',
    // Callgrind's model of the machine's caches (first level and last level, read off the CPU):
    // each dump then also counts the simulated misses ({@link instructionCounter}'s `events`).
    ...(cacheSim ? ['--cache-sim=yes'] : []),
    ...(detail
      ? ['--dump-instr=yes', '--compress-strings=no', '--compress-pos=no']
      : ['--dump-instr=no', '--collect-jumps=no']),
  ];
}

/** @param {string[]} args */
function control(args) {
  return new Promise((resolve, reject) => {
    execFile('callgrind_control', args, { timeout: 60_000 }, (error, stdout) =>
      error ? reject(new Error(`callgrind_control ${args.join(' ')}: ${error.message}`)) : resolve(stdout),
    );
  });
}

/**
 * The instruction counter of one process running under {@link callgrindWrap}`(dir)`: `zero()` resets it,
 * `dump()` answers the instructions executed since the last zero or dump (a dump also resets).
 *
 * @param {number} pid
 * @param {string} dir
 */
export function instructionCounter(pid, dir) {
  const prefix = `cg.${pid}.out.`;
  /** The number of the newest dump of this process (several counters may have dumped it before). */
  const newest = () =>
    Math.max(
      0,
      ...readdirSync(dir)
        .filter((name) => name.startsWith(prefix))
        .map((name) => Number(name.slice(prefix.length)))
        .filter(Number.isInteger),
    );
  return {
    async zero() {
      await control(['--zero', String(pid)]);
    },
    /** The files {@link dump} wrote, oldest first. */
    files: /** @type {string[]} */ ([]),
    /**
     * Every event of the last dump's totals by callgrind's name (`Ir` the instructions; with the cache
     * simulation also `I1mr`, `D1mr`, `D1mw`, `ILmr`, `DLmr`, `DLmw`, the misses, and `Dr`, `Dw`).
     * @type {Record<string, number>}
     */
    events: {},
    /** @returns {Promise<number>} */
    async dump() {
      const file = join(dir, `${prefix}${newest() + 1}`);
      // callgrind_control can answer before the dump is written: wait for the file's last line.
      await control(['--dump', String(pid)]);
      for (let waited = 0; waited < 60_000; waited += 50) {
        let text = '';
        try {
          text = readFileSync(file, 'utf8');
        } catch {}
        const totals = /^totals:\s+(\d+)/m.exec(text);
        if (totals !== null) {
          this.files.push(file);
          const names = /^events:\s+(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? ['Ir'];
          const values = /^totals:\s+(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
          this.events = Object.fromEntries(names.map((name, i) => [name, values[i] ?? 0]));
          return Number(totals[1]);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`callgrind wrote no dump for ${pid} (${file})`);
    },
  };
}

/**
 * A client that sends exactly `count` GET requests over `connections` keep-alive connections, kept
 * open from one batch to the next as wrk keeps its own (a new connection per batch would add
 * Node's connection set-up and tear-down to every batch). Each `send` resolves once every response
 * has been read, and rejects on the first non-2xx answer or error: a row that refuses its own
 * credential must not be counted as cheap. With `tokens`, request i carries
 * `Authorization: Bearer tokens[i]`.
 *
 * @param {number} connections
 */
export function keepAliveClient(connections) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  return {
    /**
     * @param {{ url: string, count: number, headers?: Record<string, string>, tokens?: string[], timeoutMs?: number }} options
     * @returns {Promise<void>}
     */
    send({ url, count, headers = {}, tokens, timeoutMs = 600_000 }) {
      let next = 0;
      /** @returns {Promise<void>} */
      const one = () => {
        if (next >= count) return Promise.resolve();
        const i = next++;
        const sent = tokens ? { ...headers, authorization: `Bearer ${tokens[i % tokens.length]}` } : headers;
        return new Promise((resolve, reject) => {
          const request = http.get(url, { agent, headers: sent }, (response) => {
            response.resume();
            response.on('end', () => {
              const status = response.statusCode ?? 0;
              if (status >= 200 && status < 300) resolve();
              else reject(new Error(`${url} answered ${status} to request ${i + 1} of ${count}`));
            });
            response.on('error', reject);
          });
          request.on('error', reject);
        }).then(one);
      };
      /** @type {NodeJS.Timeout | undefined} */
      let timer;
      const bounded = new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${count} requests to ${url}: not done in ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      const all = Promise.all(Array.from({ length: Math.min(connections, count) }, one));
      return /** @type {Promise<void>} */ (Promise.race([all, bounded])).finally(() => clearTimeout(timer));
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * Instructions per request of one row: warm-up batches until V8 has compiled the hot path (at least
 * `minWarm` batches, then until two in a row agree within `settle`; at most `maxWarm`), then `rounds`
 * measured batches. Answers each measured batch's instructions per request, and every event of its
 * dump per request (`events`: the instructions and, under the cache simulation, the misses).
 *
 * @param {{ counter: ReturnType<typeof instructionCounter>, send: (count: number) => Promise<void>, batch: number, rounds: number, minWarm?: number, maxWarm?: number, settle?: number, log?: (line: string) => void }} options
 * @returns {Promise<{ perRequest: number[], events: Record<string, number>[], warmBatches: number }>}
 */
export async function countPerRequest({
  counter,
  send,
  batch,
  rounds,
  minWarm = 6,
  maxWarm = 15,
  settle = 0.03,
  log,
}) {
  await counter.zero();
  let previous = Number.NaN;
  let warmBatches = 0;
  while (warmBatches < maxWarm) {
    await send(batch);
    const now = (await counter.dump()) / batch;
    warmBatches += 1;
    log?.(`    warm-up batch ${warmBatches}: ${Math.round(now).toLocaleString('en')} instructions/request`);
    if (warmBatches >= minWarm && Math.abs(now - previous) <= settle * Math.min(now, previous)) break;
    previous = now;
  }
  /** @type {number[]} */
  const perRequest = [];
  /** @type {Record<string, number>[]} */
  const events = [];
  for (let round = 0; round < rounds; round++) {
    await send(batch);
    perRequest.push((await counter.dump()) / batch);
    events.push(Object.fromEntries(Object.entries(counter.events).map(([name, n]) => [name, n / batch])));
  }
  return { perRequest, events, warmBatches };
}
