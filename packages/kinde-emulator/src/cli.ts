import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_CLIENT_ID, fullName } from './directory.js';
import { type Emulator, type EmulatorOptions, startEmulator } from './emulator.js';

const HELP = `Usage: kinde-emulator [options]

A local, Kinde-compatible OpenID Connect provider for development and tests.

Options:
  --port <n>            Port to listen on (default 8001; 0 picks a free one)
  --host <addr>         Interface to listen on (default 127.0.0.1; loopback only without --allow-remote)
  --allow-remote        Allow a --host other machines can reach (prints a warning)
  --directory <file>    Directory JSON (users, organizations, applications); reloaded on change
  --key-file <file>     Dev signing-key file (default .data/kinde-emulator-keys.json)
  --ephemeral-keys      Fresh signing keys on every start (tokens do not survive a restart)
  --tls-key <file>      Serve https with this PEM key (with --tls-cert)
  --tls-cert <file>     PEM certificate for https
  --headless            Sign in at once when login_hint names a user (no login page)
  --access-ttl <s>      Access-token lifetime in seconds (default 86400)
  --id-ttl <s>          ID-token lifetime in seconds (default 3600)
  --refresh-ttl <s>     Refresh-token lifetime in seconds (default 1296000)
  --kinde-refresh       Refresh returns the unexpired access token, as Kinde does
  --log                 Log requests (never tokens or secrets)
  -h, --help            Show this help
`;

function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a whole number, got "${value}"`);
  return Number(value);
}

/** Turns command-line arguments into emulator options (throws with a one-line message). */
export function parseCli(argv: string[]): EmulatorOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'allow-remote': { type: 'boolean' },
      directory: { type: 'string' },
      'key-file': { type: 'string' },
      'ephemeral-keys': { type: 'boolean' },
      headless: { type: 'boolean' },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      'access-ttl': { type: 'string' },
      'id-ttl': { type: 'string' },
      'refresh-ttl': { type: 'string' },
      log: { type: 'boolean' },
      'kinde-refresh': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const port = int(values.port, 'port') ?? 8001;
  if (port > 65535) throw new Error('--port must be at most 65535');
  const options: EmulatorOptions = {
    port,
    host: values.host ?? '127.0.0.1',
    headlessLogin: values.headless ?? false,
  };
  if (values['allow-remote']) options.allowRemote = true;
  if (values.directory) options.directoryFile = values.directory;
  if (!values['ephemeral-keys']) options.keyFile = values['key-file'] ?? '.data/kinde-emulator-keys.json';
  const ttl = { accessTokenTtl: 'access-ttl', idTokenTtl: 'id-ttl', refreshTokenTtl: 'refresh-ttl' } as const;
  for (const [key, flag] of Object.entries(ttl)) {
    const v = int(values[flag], flag);
    if (v !== undefined) options[key as keyof typeof ttl] = v;
  }
  if (values.log) options.logger = true;
  if (values['kinde-refresh']) options.reuseAccessTokenOnRefresh = true;
  if (values['tls-key'] || values['tls-cert']) {
    if (!values['tls-key'] || !values['tls-cert']) throw new Error('--tls-key and --tls-cert go together');
    options.https = { key: readFileSync(values['tls-key']), cert: readFileSync(values['tls-cert']) };
  }
  return options;
}

/** The banner: issuer, ready-to-paste KINDE_* lines and the users to pick from. */
export function banner(emu: Emulator): string {
  const app =
    emu.directory.applications.find((a) => a.clientId === DEFAULT_CLIENT_ID) ?? emu.directory.applications[0];
  const lines = [
    `Kinde emulator listening on ${emu.issuerUrl}`,
    `Dashboard: ${emu.issuerUrl}/`,
    '',
    '# Paste into your app environment (.env):',
    `KINDE_ISSUER_URL=${emu.issuerUrl}`,
    `KINDE_CLIENT_ID=${app?.clientId ?? ''}`,
  ];
  if (app?.clientSecret) lines.push(`KINDE_CLIENT_SECRET=${app.clientSecret}`);
  lines.push('', 'Users you can sign in as:');
  for (const u of emu.directory.users) lines.push(`  ${u.email}  (${fullName(u)})`);
  lines.push('', 'Development only: never point a production app at this emulator.');
  return lines.join('\n');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Runs the CLI; resolves to the running emulator (or undefined after --help). Exits on errors. */
export async function main(argv: string[]): Promise<Emulator | undefined> {
  let emu: Emulator;
  try {
    const options = parseCli(argv);
    if (options === 'help') {
      process.stdout.write(`kinde-emulator ${version()}\n\n${HELP}`);
      return undefined;
    }
    options.onDirectoryReload = (err) =>
      process.stderr.write(err ? `directory not reloaded: ${err.message}\n` : 'directory reloaded\n');
    emu = await startEmulator(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number };
    const message =
      e.code === 'EADDRINUSE'
        ? `port already in use (${e.message.replace(/^.*EADDRINUSE: /, '')})`
        : e.message;
    process.stderr.write(`kinde-emulator: ${message}\n`);
    process.exitCode = 1;
    return undefined;
  }
  process.stdout.write(`${banner(emu)}\n`);
  const stop = () => {
    emu.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return emu;
}
