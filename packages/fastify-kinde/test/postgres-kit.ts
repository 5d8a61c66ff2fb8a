/**
 * PostgreSQL for the tests: whether one answers (the suites skip with a reason when not, except in
 * CI), a table per test and its cleanup, and a private server (initdb in a temporary folder) to stop
 * and start without touching the machine's shared one.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** In CI the PostgreSQL tests must run: a missing server fails them instead of skipping. */
function skipUnlessCi(reason: string): string | false {
  return process.env.CI ? false : reason;
}

/** True when a server at `url` answers `SELECT 1` within `timeoutMs`. */
export async function answers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A skip reason when no PostgreSQL answers at DATABASE_URL (never in CI), or false. */
export async function postgresMissing(): Promise<string | false> {
  if (await answers(DATABASE_URL)) return false;
  const host = new URL(DATABASE_URL).host;
  return skipUnlessCi(`no PostgreSQL answers at ${host} (start it, or set DATABASE_URL)`);
}

/** A table name no other test uses. */
export function testTable(name: string): string {
  return `test_${name}_${randomBytes(5).toString('hex')}`;
}

/** Drops a store's two tables. */
export async function dropTables(table: string, url = DATABASE_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS "${table}", "${table}_leases"`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Debian's PostgreSQL binaries (the newest version installed), or undefined. */
function binaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  const found = versions.map((v) => join(root, v, 'bin')).find((bin) => existsSync(join(bin, 'initdb')));
  return found;
}

/** As root, the servers run as the `postgres` user (PostgreSQL refuses to run as root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return Number.isInteger(uid) && uid > 0 ? { uid, gid } : undefined;
}

/** A skip reason when a private PostgreSQL cannot be started here (never in CI), or false. */
export function postgresServerMissing(): string | false {
  if (binaries() === undefined)
    return skipUnlessCi('PostgreSQL server binaries are not installed (Debian: apt-get install postgresql)');
  if (process.getuid?.() === 0 && serverUser() === undefined)
    return skipUnlessCi('running as root without a "postgres" user to run a private server as');
  return false;
}

/** A PostgreSQL server of the test's own, on `port`, with trust auth for the user `root`. */
export class PostgresServer {
  private process: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'kinde-pg-'));
  private readonly bin = binaries() ?? '';
  private readonly user = serverUser();

  constructor(readonly port: number) {}

  get url(): string {
    return `postgres://root@127.0.0.1:${this.port}/postgres`;
  }

  /** initdb, once. */
  init(): void {
    if (this.user) chownSync(this.dir, this.user.uid, this.user.gid);
    const args = ['-D', join(this.dir, 'data'), '-U', 'root', '-A', 'trust', '--no-sync', '-E', 'UTF8'];
    const run = spawnSync(join(this.bin, 'initdb'), args, { ...this.user, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`initdb failed: ${run.stderr}`);
  }

  async start(): Promise<void> {
    const args = ['-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir];
    args.push('-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=40');
    const child = spawn(join(this.bin, 'postgres'), args, { ...this.user, stdio: 'ignore' });
    this.process = child;
    // Never left running by a test process that ends early (a failed hook, a timeout).
    const stop = () => child.kill('SIGQUIT');
    process.once('exit', stop);
    child.once('exit', () => process.off('exit', stop));
    const deadline = Date.now() + 10_000;
    while (!(await answers(this.url, 500))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('postgres did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the server at once, as a crash would (immediate shutdown: no checkpoint, clients cut). */
  async kill(): Promise<void> {
    const child = this.process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGQUIT');
    await exited;
    this.process = undefined;
  }

  /**
   * Freezes (SIGSTOP) or thaws (SIGCONT) the server and every backend: connections stay open and
   * nothing answers, as with a hung host.
   */
  freeze(frozen: boolean): void {
    const pid = this.process?.pid;
    if (pid === undefined) return;
    const children = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((name) => {
        try {
          // The fourth field of /proc/<pid>/stat is the parent's pid (after "(comm)").
          const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
        } catch {
          return false;
        }
      })
      .map(Number);
    for (const target of [pid, ...children]) {
      try {
        process.kill(target, frozen ? 'SIGSTOP' : 'SIGCONT');
      } catch {
        // A backend that ended since the listing.
      }
    }
  }

  async close(): Promise<void> {
    this.freeze(false);
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
