import type { FastifyReply, FastifyRequest } from 'fastify';

/** A Management API error, answered as Kinde's `error_response`: `{errors: [{code, message}]}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Sends Kinde's error body. */
export function sendApiError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .send({ errors: [{ code, message }] });
}

/** A success body with Kinde's `code` and `message`, plus the payload fields. */
export function ok(fields: Record<string, unknown> = {}, message = 'Success', code = 'OK') {
  return { code, message, ...fields };
}

type Obj = Record<string, unknown>;

function bad(message: string): never {
  throw new ApiError(400, 'INVALID_REQUEST', message);
}

/** The query string as an object (Fastify parses it; repeated keys become arrays). */
export function query(request: FastifyRequest): Obj {
  return (request.query ?? {}) as Obj;
}

/** The JSON body as an object; anything else (array, string, missing) is a 400. */
export function jsonBody(request: FastifyRequest, optional = false): Obj {
  const b = request.body;
  if ((b === undefined || b === null) && optional) return {};
  if (!b || typeof b !== 'object' || Array.isArray(b)) bad('The request body must be a JSON object');
  return b as Obj;
}

/** A string field; `required` makes absence a 400. */
export function str(o: Obj, name: string, required: true): string;
export function str(o: Obj, name: string, required?: false): string | undefined;
export function str(o: Obj, name: string, required = false): string | undefined {
  const v = o[name];
  if (v === undefined || v === null || v === '') {
    if (required) bad(`"${name}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') bad(`"${name}" must be a string`);
  return v;
}

/** A boolean field (JSON true/false, or "true"/"false" in a query). */
export function bool(o: Obj, name: string): boolean | undefined {
  const v = o[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  return bad(`"${name}" must be true or false`);
}

/** A list of strings (JSON array). */
export function strArray(o: Obj, name: string): string[] {
  const v = o[name];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
    bad(`"${name}" must be an array of non-empty strings`);
  }
  return v as string[];
}

/** A comma-separated query value as a list (Kinde's filter style). */
export function csv(o: Obj, name: string): string[] {
  const v = str(o, name);
  return v === undefined
    ? []
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

/** `expand` values, checked against what the endpoint allows. */
export function expand(o: Obj, allowed: string[]): Set<string> {
  const values = csv(o, 'expand');
  const unknown = values.find((x) => !allowed.includes(x));
  if (unknown !== undefined) bad(`expand: "${unknown}" is not one of ${allowed.join(', ')}`);
  return new Set(values);
}

const MAX_PAGE = 500;

/**
 * Kinde's paging: `page_size` (default 10) and an opaque `next_token`, returned while more remain.
 */
export function paginate<T>(o: Obj, items: T[]): { items: T[]; next_token?: string } {
  const rawSize = str(o, 'page_size');
  const size = rawSize === undefined ? 10 : Number(rawSize);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
    bad(`page_size must be an integer from 1 to ${MAX_PAGE}`);
  }
  const token = str(o, 'next_token');
  let start = 0;
  if (token !== undefined) {
    const decoded = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString() : '';
    const m = /^offset:(\d+)$/.exec(decoded);
    if (!m) bad('next_token is not a token this API returned');
    start = Number(m[1]);
  }
  const page = items.slice(start, start + size);
  const next =
    start + size < items.length ? Buffer.from(`offset:${start + size}`).toString('base64url') : undefined;
  return next ? { items: page, next_token: next } : { items: page };
}

/** Sorts by a `sort` parameter among `fields` (`name_asc`, `email_desc`, ...). */
export function sortBy<T>(o: Obj, items: T[], fields: Record<string, (t: T) => string>): T[] {
  const sort = str(o, 'sort');
  if (sort === undefined) return items;
  const m = /^(\w+)_(asc|desc)$/.exec(sort);
  const key = m ? fields[m[1] as string] : undefined;
  if (!m || !key)
    bad(
      `sort must be one of ${Object.keys(fields)
        .flatMap((f) => [`${f}_asc`, `${f}_desc`])
        .join(', ')}`,
    );
  const dir = m[2] === 'desc' ? -1 : 1;
  return [...items].sort((a, b) => dir * key(a).localeCompare(key(b)));
}

/** ISO 8601 from unix seconds, or null. */
export function iso(seconds: number | undefined): string | null {
  return seconds === undefined ? null : new Date(seconds * 1000).toISOString();
}
