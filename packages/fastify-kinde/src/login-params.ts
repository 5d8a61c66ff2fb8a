import { KindeAuthError } from './errors.js';

/** One login parameter: how its value must look. */
interface ParamRule {
  type: 'string';
  maxLength: number;
  pattern?: string;
  enum?: readonly string[];
  description?: string;
}

/** Free text the provider shows or records: no control characters, at most 256 characters. */
const TEXT: ParamRule = { type: 'string', maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]*$' };
/** An identifier Kinde issues (connection, plan, pricing table, workflow deployment). */
const KEY: ParamRule = { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' };
const BOOL: ParamRule = { type: 'string', maxLength: 5, enum: ['true', 'false'] };

/**
 * Kinde's advertising and click-id properties (js-utils `KindeProperties`), sent to `/oauth2/auth`
 * as they are so Kinde records them against the user.
 */
export const KINDE_PROPERTIES = [
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_content',
  'utm_term',
  'gclid',
  'click_id',
  'hsa_acc',
  'hsa_cam',
  'hsa_grp',
  'hsa_ad',
  'hsa_src',
  'hsa_tgt',
  'hsa_kw',
  'hsa_mt',
  'hsa_net',
  'hsa_ver',
  'match_type',
  'keyword',
  'device',
  'ad_group_id',
  'campaign_id',
  'creative',
  'network',
  'ad_position',
  'fbclid',
  'li_fat_id',
  'msclkid',
  'twclid',
  'ttclid',
] as const;

/**
 * The login parameters forwarded to Kinde's `/oauth2/auth`, with js-utils' names
 * (`mapLoginMethodParamsForUrl`). `audience` is separate: it adds to the configured audiences.
 */
export const FORWARDED: Readonly<Record<string, ParamRule>> = {
  org_code: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9_:-]+$' },
  login_hint: TEXT,
  lang: { type: 'string', maxLength: 35, pattern: '^[A-Za-z0-9-]+$' },
  org_name: TEXT,
  prompt: { type: 'string', maxLength: 14, enum: ['login', 'none', 'create', 'select_account'] },
  connection_id: {
    ...KEY,
    description: 'A Kinde connection (e.g. `conn_…`): opens that social or enterprise login at once',
  },
  invitation_code: {
    type: 'string',
    maxLength: 256,
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'The code of an invitation link; `is_invitation=true` is sent with it',
  },
  plan_interest: KEY,
  pricing_table_key: KEY,
  workflow_deployment_id: KEY,
  has_success_page: BOOL,
  pages_mode: { type: 'string', maxLength: 7, enum: ['preview'] },
  ...Object.fromEntries(KINDE_PROPERTIES.map((name) => [name, TEXT])),
};

/** Parameters the login route reads itself and does not forward as they are. */
const OWN: Readonly<Record<string, ParamRule>> = {
  returnTo: {
    type: 'string',
    maxLength: 2048,
    description:
      'A path on this site to land on after login; anything that would leave the site lands on the default instead',
  },
  post_login_redirect_url: {
    type: 'string',
    maxLength: 2048,
    description:
      "Kinde's name for `returnTo`; an absolute URL of another origin is kept only when it matches `KINDE_POST_LOGIN_ALLOWED_URL_REGEX`",
  },
  audience: {
    ...TEXT,
    maxLength: 1024,
    description: 'Audiences added to the configured ones (space-separated)',
  },
  supports_reauth: { ...BOOL, description: 'Sent as `true` unless `false` is given' },
  is_invitation: { type: 'string', maxLength: 4, enum: ['true'] },
  reauth_state: {
    type: 'string',
    maxLength: 4096,
    pattern: '^[A-Za-z0-9+/_=-]+$',
    description: "Kinde's base64 JSON of an expired login's parameters: the login restarts with them",
  },
};

/** The query string of login, register and create_org (unknown parameters are refused separately). */
export const loginQuery = {
  type: 'object',
  properties: { ...OWN, ...FORWARDED },
} as const;

/** The validated query of {@link loginQuery}. */
export type LoginQuery = Partial<Record<string, string>> & {
  returnTo?: string;
  post_login_redirect_url?: string;
  org_code?: string;
  login_hint?: string;
  lang?: string;
  audience?: string;
  org_name?: string;
  prompt?: string;
  reauth_state?: string;
};

const KNOWN = new Set([...Object.keys(OWN), ...Object.keys(FORWARDED)]);
/** Most audiences one login may add. */
const MAX_AUDIENCES = 10;

function bad(message: string): never {
  throw new KindeAuthError('ERR_BAD_REQUEST', message);
}

/**
 * Refuses a login query naming a parameter Kinde does not take (a typo would otherwise be dropped
 * without a word) or naming one twice. Runs on the raw query string, before schema validation.
 */
export function checkLoginParamNames(url: string): void {
  const at = url.indexOf('?');
  if (at < 0) return;
  const seen = new Set<string>();
  for (const name of new URLSearchParams(url.slice(at + 1)).keys()) {
    if (!KNOWN.has(name)) {
      bad(
        `Unknown login parameter "${name.slice(0, 64)}". Kinde's login parameters are: ${[...KNOWN].filter((k) => !k.startsWith('hsa_')).join(', ')}, and the ad-click properties hsa_*`,
      );
    }
    if (seen.has(name)) bad(`The login parameter "${name}" is given more than once`);
    seen.add(name);
  }
}

/** Checks one value against its rule; throws a 400 naming the parameter. */
export function checkLoginParam(name: string, value: string): void {
  const rule = FORWARDED[name] ?? OWN[name];
  if (rule === undefined) bad(`Unknown login parameter "${name.slice(0, 64)}"`);
  if (value.length > rule.maxLength) bad(`"${name}" must be at most ${rule.maxLength} characters`);
  if (rule.enum !== undefined && !rule.enum.includes(value))
    bad(`"${name}" must be one of ${rule.enum.join(', ')}`);
  if (rule.pattern !== undefined && !new RegExp(rule.pattern).test(value))
    bad(`"${name}" holds characters it may not hold`);
}

/** The audiences of a login: the configured ones, then the requested ones not among them. */
export function loginAudiences(configured: readonly string[], requested: string | undefined): string[] {
  const extra = requested?.split(/\s+/).filter(Boolean) ?? [];
  if (extra.length > MAX_AUDIENCES) bad(`"audience" may name at most ${MAX_AUDIENCES} audiences`);
  const all = [...configured];
  for (const audience of extra) if (!all.includes(audience)) all.push(audience);
  return all;
}

/** The parameters to forward to `/oauth2/auth` from a validated query (Kinde's names, as given). */
export function forwardedParams(query: LoginQuery): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(FORWARDED)) {
    const value = query[name];
    if (typeof value === 'string' && value !== '') out[name] = value;
  }
  if (out.invitation_code !== undefined) out.is_invitation = 'true';
  out.supports_reauth = query.supports_reauth === 'false' ? 'false' : 'true';
  return out;
}

/**
 * Protocol parameters a `reauth_state` may carry that the new login makes afresh (its own state,
 * nonce, PKCE, redirect URI and scope) or sets from the route: dropped without a word.
 */
const REMADE = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'supports_reauth',
  'is_invitation',
  'is_create_org',
  'start_page',
  'reauth_state',
]);

/** What a `reauth_state` holds, checked: the login parameters to restart with, and the route's kind. */
export interface ReauthParams {
  params: Record<string, string>;
  /** `register` or `create_org` when the expired login was one. */
  method: 'login' | 'register' | 'create_org';
}

/**
 * Decodes Kinde's `reauth_state` (base64 of the expired login's parameters as JSON): keeps the
 * parameters the login route takes, each checked as if given in the query; drops the protocol
 * parameters a new login makes afresh and anything else. Malformed state is a 400.
 */
export function decodeReauthState(value: string): ReauthParams {
  checkLoginParam('reauth_state', value);
  let decoded: unknown;
  try {
    const text = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    decoded = JSON.parse(text);
  } catch {
    bad('"reauth_state" is not base64-encoded JSON');
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded))
    bad('"reauth_state" must hold a JSON object of login parameters');
  const params: Record<string, string> = {};
  const entries = Object.entries(decoded as Record<string, unknown>);
  if (entries.length > 64) bad('"reauth_state" holds too many parameters');
  for (const [rawName, raw] of entries) {
    // js-utils writes camelCase keys; Kinde's own are snake_case.
    const name = rawName.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (REMADE.has(name) || raw === null || raw === undefined) continue;
    const known = name === 'audience' || name === 'post_login_redirect_url' || name in FORWARDED;
    if (!known) continue;
    const text = Array.isArray(raw) ? raw.join(' ') : raw;
    if (typeof text !== 'string' && typeof text !== 'boolean' && typeof text !== 'number')
      bad(`"reauth_state": "${name}" must be a string`);
    const string = String(text);
    if (string === '') continue;
    checkLoginParam(name, string);
    params[name] = string;
  }
  const record = decoded as Record<string, unknown>;
  const createOrg = String(record.is_create_org ?? record.isCreateOrg) === 'true';
  const register = params.prompt === 'create' || (record.start_page ?? record.startPage) === 'registration';
  return { params, method: createOrg ? 'create_org' : register ? 'register' : 'login' };
}

/**
 * The login route's URL for js-utils' `switchOrg`: `org_code` and `prompt=none`, and `returnTo`.
 * Throws a `TypeError` for an organization code Kinde would not issue.
 *
 * @example
 * ```ts
 * switchOrgUrl('/api/auth/login', 'org_acme', { returnTo: '/dashboard' });
 * // '/api/auth/login?org_code=org_acme&prompt=none&returnTo=%2Fdashboard'
 * ```
 */
export function switchOrgUrl(
  loginPath: string,
  orgCode: string,
  options: { returnTo?: string } = {},
): string {
  const rule = FORWARDED.org_code!;
  if (
    typeof orgCode !== 'string' ||
    orgCode.length > rule.maxLength ||
    !new RegExp(rule.pattern!).test(orgCode)
  )
    throw new TypeError(
      `fastify-kinde: switchOrgUrl: "${String(orgCode).slice(0, 64)}" is not an organization code`,
    );
  const query = new URLSearchParams({ org_code: orgCode, prompt: 'none' });
  if (options.returnTo !== undefined) query.set('returnTo', options.returnTo);
  return `${loginPath}?${query}`;
}
