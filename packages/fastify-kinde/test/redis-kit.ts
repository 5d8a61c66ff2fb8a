/**
 * Redis for the tests: whether one answers (the suites skip with a reason when not, except in CI),
 * a key prefix per test and its cleanup, and a private redis-server to stop and start.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when something at host:port answers PING with PONG within `timeoutMs`. */
export function pings(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** In CI the Redis tests must run: a missing Redis fails them instead of skipping. */
function skipUnlessCi(reason: string): string | false {
  return process.env.CI ? false : reason;
}

/** A skip reason when no Redis answers at REDIS_URL (never in CI), or false. */
export async function redisMissing(): Promise<string | false> {
  const url = new URL(REDIS_URL);
  if (await pings(url.hostname, Number(url.port || 6379))) return false;
  return skipUnlessCi(`no Redis answers at ${url.host} (start redis-server, or set REDIS_URL)`);
}

/** A skip reason when redis-server cannot be started here (never in CI), or false. */
export function redisServerMissing(): string | false {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  return found ? false : skipUnlessCi('redis-server is not installed (Debian: apt-get install redis-server)');
}

/** A key prefix no other test uses. */
export function testPrefix(name: string): string {
  return `test:${name}:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under `prefix`. */
export async function removeKeys(prefix: string, url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A redis-server of the test's own, with an append-only file so that data survives a restart. */
export class RedisServer {
  private process: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'kinde-redis-'));

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir];
    args.push('--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no');
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.process = child;
    const deadline = Date.now() + 5_000;
    while (!(await pings('127.0.0.1', this.port, 200))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Ends the server at once, as a crash would. */
  async kill(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
    this.process = undefined;
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections stay open, nothing answers. */
  freeze(frozen: boolean): void {
    this.process?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  async close(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
