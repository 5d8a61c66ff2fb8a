/**
 * Helpers of the packed-tarball test: `npm pack` a workspace package, read the tarball's file list,
 * run a command with a clean environment, and start a process that prints a line when it is ready.
 * Child processes run on the Node that runs the tests (its directory first on PATH), so that the
 * suite run on Node 22 or 24 installs and starts the scratch apps on that same Node.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** What `npm pack --json` reports for one package. */
export interface Packed {
  name: string;
  filename: string;
  /** Absolute path of the tarball. */
  tarball: string;
  size: number;
  unpackedSize: number;
  files: string[];
}

/**
 * The environment of a child: the parent's, without the `npm_*` variables that `npm test` sets for
 * this workspace (prefix, workspace, package fields), which would leak the monorepo into the scratch
 * install. The running Node comes first on PATH; native addons build against its headers.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'INIT_CWD' && key !== 'NODE_ENV') env[key] = value;
  }
  const bin = dirname(process.execPath);
  env.PATH = `${bin}:${process.env.PATH ?? ''}`;
  const dist = dirname(bin);
  if (process.env.npm_config_nodedir) env.npm_config_nodedir = process.env.npm_config_nodedir;
  else if (existsSync(join(dist, 'include', 'node', 'node.h'))) env.npm_config_nodedir = dist;
  return { ...env, ...extra };
}

/** Runs a command to completion (bounded); throws with its output when it fails. */
export function run(command: string, args: string[], cwd: string, timeoutMs = 180_000): string {
  try {
    return execFileSync(command, args, {
      cwd,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: timeoutMs,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

/** Packs a workspace package (its `prepack` script runs, as on `npm publish`) into `destination`. */
export function pack(packageDir: string, destination: string): Packed {
  const out = run('npm', ['pack', '--json', '--pack-destination', destination], packageDir);
  // npm prints the prepack script's output before the JSON.
  const json = JSON.parse(out.slice(out.indexOf('[\n'))) as Array<{
    name: string;
    filename: string;
    size: number;
    unpackedSize: number;
    files: Array<{ path: string }>;
  }>;
  const [entry] = json;
  if (!entry) throw new Error(`npm pack printed no entry in ${packageDir}`);
  return {
    name: entry.name,
    filename: entry.filename,
    tarball: join(destination, entry.filename),
    size: entry.size,
    unpackedSize: entry.unpackedSize,
    files: entry.files.map((f) => f.path).sort(),
  };
}

/** A child process that printed `ready` (or the emulator's banner), with its output so far. */
export interface Started {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts a process and resolves once a line of its stdout matches `ready`; rejects on exit or timeout. */
export function start(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 30_000,
): Promise<Started & { match: RegExpExecArray }> {
  // A process group of its own: `npx` runs the bin as a child of its own, and both must stop.
  const child = spawn(command, args, {
    cwd,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid ?? 0), name);
    } catch {
      // Already gone.
    }
  };
  let text = '';
  const output = () => text;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      signal('SIGTERM');
      setTimeout(() => signal('SIGKILL'), 5_000).unref();
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${command} ${args.join(' ')} was not ready within ${timeoutMs} ms:\n${text}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const match = ready.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve({ child, output, stop, match });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`${command} ${args.join(' ')} exited (${code ?? signal}) before it was ready:\n${text}`),
      );
    });
  });
}
