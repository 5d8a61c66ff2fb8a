// Just enough of the Redis protocol for the bench itself: is a server there, and remove our keys.
// (The store under test brings its own client.)
import { connect } from 'node:net';

/**
 * Sends one command and resolves with the first reply line, or rejects after `timeoutMs`.
 *
 * @param {string} url  redis://host:port
 * @param {string[]} args
 * @param {number} [timeoutMs]
 * @returns {Promise<string>}
 */
function command(url, args, timeoutMs = 1000) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    let reply = '';
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk) => {
      reply += chunk;
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.end();
      resolve(reply.slice(0, end));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** True when a Redis server answers PING at `url`. @param {string} url */
export async function redisAnswers(url) {
  try {
    return (await command(url, ['PING'])) === '+PONG';
  } catch {
    return false;
  }
}

const UNLINK_MATCHING = `local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do redis.call('UNLINK', key) end
until cursor == '0'
return 1`;

/** Removes every key under `prefix` (the bench's own keys only). @param {string} url @param {string} prefix */
export async function deletePrefix(url, prefix) {
  try {
    await command(url, ['EVAL', UNLINK_MATCHING, '0', `${prefix}*`], 30_000);
  } catch {
    // Best effort: the keys expire with their sessions anyway.
  }
}
