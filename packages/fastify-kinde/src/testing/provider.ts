import type {
  Directory,
  Emulator,
  FailureTarget,
  RequestLogEntry,
  TokenFailureOptions,
} from 'kinde-emulator';

/** Entries to add to the emulator's directory, or to merge over those with the same key. */
export interface DirectoryPatch {
  users?: Record<string, unknown>[];
  organizations?: Record<string, unknown>[];
  roles?: Record<string, unknown>[];
  applications?: Record<string, unknown>[];
}

/**
 * The emulator as the kit drives it: in this process (its `control` object) or over its HTTP
 * control API (`/_emulator/...`, loopback only). Both answer the same questions the same way.
 */
export interface Provider {
  readonly issuerUrl: string;
  /** The directory; over HTTP, application secrets read `(set)`. */
  directory(): Promise<Directory>;
  merge(patch: DirectoryPatch): Promise<void>;
  clock(): Promise<{ now: number; offsetSeconds: number }>;
  advanceClock(seconds: number): Promise<void>;
  fail(target: FailureTarget, options: TokenFailureOptions): Promise<void>;
  clearFailures(): Promise<void>;
  requests(): Promise<RequestLogEntry[]>;
  clearRequests(): Promise<void>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** The kit's own misuse and provider errors: one class, so a test can tell them from its app's errors. */
export class KindeTestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`fastify-kinde/testing: ${message}`, options);
    this.name = 'KindeTestError';
  }
}

/** Runs a control call, turning the emulator's RangeError/DirectoryError into a KindeTestError. */
async function wrap(what: string, call: () => unknown): Promise<void> {
  await Promise.resolve()
    .then(call)
    .catch((error: unknown) => {
      throw new KindeTestError(`${what}: ${(error as Error).message}`, { cause: error });
    });
}

/** Drives an emulator started in this process. */
export function inProcessProvider(emulator: Emulator): Provider {
  const control = emulator.control;
  return {
    issuerUrl: emulator.issuerUrl,
    directory: async () => emulator.directory,
    merge: (patch) => wrap('directory', () => control.mergeDirectory(patch)),
    clock: async () => control.clock(),
    advanceClock: (seconds) => wrap('advanceClock', () => control.advanceClock(seconds)),
    fail: (target, options) => wrap('fail', () => control.failEndpoint(target, options)),
    clearFailures: async () => control.clearFailures(),
    requests: async () => emulator.requests.map((entry) => ({ ...entry })),
    clearRequests: async () => {
      emulator.requests.length = 0;
    },
    reset: async () => control.reset(),
    close: () => emulator.close(),
  };
}

/** Drives an emulator that runs elsewhere on this machine, through `/_emulator/...`. */
export function httpProvider(issuerUrl: string): Provider {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${issuerUrl}/_emulator${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      throw new KindeTestError(
        `no Kinde emulator answers at ${issuerUrl} (${(error as Error).message}); start it first (npx kinde-emulator) or use startKindeTest()`,
        { cause: error },
      );
    }
    const text = await response.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!response.ok) {
      const reason = json.error_description ?? json.error ?? text.slice(0, 200);
      throw new KindeTestError(`${method} /_emulator${path} answered ${response.status}: ${String(reason)}`);
    }
    return json as T;
  }
  return {
    issuerUrl,
    directory: () => call<Directory>('GET', '/directory'),
    merge: (patch) => call('PATCH', '/directory', patch),
    clock: () => call('GET', '/clock'),
    advanceClock: (seconds) => call('POST', '/clock', { advanceSeconds: seconds }),
    fail: (target, options) => call('POST', `/failures/${encodeURIComponent(target)}`, options),
    clearFailures: () => call('DELETE', '/failures'),
    requests: async () => (await call<{ requests: RequestLogEntry[] }>('GET', '/requests')).requests,
    clearRequests: () => call('DELETE', '/requests'),
    reset: () => call('POST', '/reset', {}),
    close: async () => {},
  };
}
