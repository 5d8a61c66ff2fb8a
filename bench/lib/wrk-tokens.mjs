// The first-use bearer row with wrk: a token per request, each sent once, from a Lua script
// (wrk-tokens.lua) that reads them from a file and hands out the next pre-formatted request on
// every call of wrk's request() hook. autocannon builds each request in JavaScript on the load core
// and tops out at 5,000–7,000 requests/s with a fresh 1 KB header each time, so the server, mostly
// idle, served about one request per event-loop turn and paid per-turn costs that the repeated-token
// row, at 40,000 requests/s, shares among many. Same result shape as runLoad.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWrk } from './wrk.mjs';

const SCRIPT = fileURLToPath(new URL('./wrk-tokens.lua', import.meta.url));

/**
 * Loads `url` with one never-seen bearer token per request until `seconds` pass or the tokens run
 * out (then requests/s are over the time the tokens lasted; CPU per request is unaffected).
 *
 * @param {{ url: string, pid: number, seconds: number, tokens: string[], headers?: Record<string, string>, ownPids?: number[] }} options
 * @returns {Promise<import('./load.mjs').LoadResult>}
 */
export async function runWrkTokens({ tokens, headers = {}, ...options }) {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-kinde-wrk-tokens-'));
  const file = join(dir, 'tokens.txt');
  writeFileSync(file, `${tokens.join('\n')}\n`);
  // The script sets Authorization itself: a fixed one from the row would be overwritten anyway.
  const { authorization: _, ...fixed } = headers;
  try {
    return await runWrk({ ...options, headers: fixed, script: SCRIPT, scriptArgs: [file] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
