/**
 * Helpers of the packed-tarball test: `npm pack` a workspace package, read the tarball's file list,
 * run a command with a clean environment, and start a process that prints a line when it is ready.
 * Child processes run on the Node that runs the tests (its directory first on PATH), so that the
 * suite run on Node 22 or 24 installs and starts the scratch apps on that same Node.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

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
 * Not passed on: the caller's working directory, its NODE_ENV (the emulator runs only in development),
 * and c8's coverage directory (the scratch processes run none of the workspace's files, and tsc's
 * coverage alone would be hundreds of megabytes).
 */
const DROPPED = new Set(['INIT_CWD', 'NODE_ENV', 'NODE_V8_COVERAGE']);

/**
 * The environment of a child: the parent's, without the `npm_*` variables that `npm test` sets for
 * this workspace (prefix, workspace, package fields), which would leak the monorepo into the scratch
 * install. The running Node comes first on PATH; native addons build against its headers.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && !DROPPED.has(key)) env[key] = value;
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

/** The fields of a package.json the test reads. */
export interface Manifest {
  name: string;
  version: string;
  description?: string;
  keywords?: string[];
  license?: string;
  author?: string;
  type?: string;
  engines?: { node?: string };
  sideEffects?: boolean | string[];
  main?: string;
  types?: string;
  exports?: Record<string, unknown>;
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
}

/** Every file path an `exports` map can resolve to (all conditions), by subpath. */
function exportTargets(exports: Record<string, unknown>): Map<string, string[]> {
  const leaves = (value: unknown): string[] =>
    typeof value === 'string' ? [value] : Object.values(value as Record<string, unknown>).flatMap(leaves);
  return new Map(Object.entries(exports).map(([subpath, value]) => [subpath, leaves(value)]));
}

/** The tarball's files, its manifest, and the failures found in it. */
export function inspect(packed: Packed, unpackDir: string): { manifest: Manifest; problems: string[] } {
  mkdirSync(unpackDir, { recursive: true });
  run('tar', ['-xzf', packed.tarball, '-C', unpackDir], unpackDir);
  const root = join(unpackDir, 'package');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
  const has = new Set(packed.files);
  const problems: string[] = [];
  for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'])
    if (!has.has(file)) problems.push(`${file} is not in the tarball`);
  for (const file of packed.files) {
    if (file.startsWith('dist/test/') || file.endsWith('.tsbuildinfo')) problems.push(`${file} is shipped`);
    // Source maps ship with the sources they point at, so stack traces and "go to definition" work.
    if (file.endsWith('.map')) {
      const map = JSON.parse(readFileSync(join(root, file), 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      for (const source of map.sources) {
        const target = relative(root, join(root, dirname(file), map.sourceRoot ?? '', source));
        if (!has.has(target)) problems.push(`${file} points at ${target}, which is not shipped`);
      }
    }
    // A compiled file whose source is gone is a leftover of an earlier build.
    const compiled = /^dist\/(src\/.*)\.(js|d\.ts)$/.exec(file);
    if (compiled && !has.has(`${compiled[1]}.ts`))
      problems.push(`${file} has no source (stale build output)`);
  }
  const meta: Array<[string, unknown]> = [
    ['description', manifest.description],
    ['license', manifest.license === 'MIT' ? 'MIT' : undefined],
    ['author', manifest.author],
    ['keywords', manifest.keywords?.length ? manifest.keywords : undefined],
    ['engines.node', manifest.engines?.node],
    ['type "module"', manifest.type === 'module' ? 'module' : undefined],
    ['sideEffects', manifest.sideEffects],
    ['scripts.prepack', manifest.scripts?.prepack],
    ['exports["./package.json"]', manifest.exports?.['./package.json']],
  ];
  for (const [field, value] of meta) if (value === undefined) problems.push(`package.json has no ${field}`);
  if (Array.isArray(manifest.sideEffects)) {
    for (const file of manifest.sideEffects)
      if (!has.has(file.replace(/^\.\//, '')))
        problems.push(`sideEffects names ${file}, which is not shipped`);
  }
  const targets = [...exportTargets(manifest.exports ?? {}).values()].flat();
  for (const target of [manifest.main, manifest.types, ...targets, ...Object.values(manifest.bin ?? {})]) {
    if (target !== undefined && !has.has(target.replace(/^\.\//, '')))
      problems.push(`${target} is not shipped`);
  }
  return { manifest, problems };
}

/** The subpaths a user imports as modules (not `./package.json` or JSON files). */
export function moduleSubpaths(manifest: Manifest): string[] {
  return [...exportTargets(manifest.exports ?? {})]
    .filter(([subpath, files]) => subpath !== '.' && files.some((f) => /\.(m|c)?js$/.test(f)))
    .map(([subpath]) => `${manifest.name}/${subpath.slice(2)}`);
}
