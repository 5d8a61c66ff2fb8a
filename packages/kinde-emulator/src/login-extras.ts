import { findApplication } from './directory.js';
import { isAllowedRedirect, type Params, param } from './http.js';
import type { AuthRequest } from './store.js';
import type { Directory } from './types.js';

/**
 * Kinde's login parameters beyond OAuth's (js-utils `mapLoginMethodParamsForUrl` and its
 * `KindeProperties`), as `/oauth2/auth` takes them. Values are checked; the login records them.
 */
const FLAGS = ['has_success_page', 'supports_reauth', 'is_invitation'] as const;
const TEXT = [
  'connection_id',
  'invitation_code',
  'plan_interest',
  'pricing_table_key',
  'workflow_deployment_id',
  'pages_mode',
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

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** An `invalid_request` about one parameter, redirected to the client. */
export class ExtraParamError extends Error {
  readonly error = 'invalid_request';
}

/** Reads and checks Kinde's extra login parameters of an authorization request. */
export function parseLoginExtras(q: Params): Record<string, string> {
  const extras: Record<string, string> = {};
  for (const name of FLAGS) {
    const value = param(q, name);
    if (value === undefined) continue;
    if (value !== 'true' && value !== 'false') throw new ExtraParamError(`"${name}" must be true or false`);
    extras[name] = value;
  }
  for (const name of TEXT) {
    const value = param(q, name);
    if (value === undefined) continue;
    if (value.length > 256 || CONTROL.test(value))
      throw new ExtraParamError(`"${name}" must be at most 256 characters without control characters`);
    extras[name] = value;
  }
  if (extras.pages_mode !== undefined && extras.pages_mode !== 'preview')
    throw new ExtraParamError('"pages_mode" must be preview');
  if ((extras.invitation_code !== undefined) !== (extras.is_invitation === 'true'))
    throw new ExtraParamError('"invitation_code" and "is_invitation=true" go together');
  return extras;
}

/** What a login page carries so an expired sign-in can be restarted (`supports_reauth=true`). */
interface Resumable {
  client_id: string;
  redirect_uri: string;
  state?: string;
  params: Record<string, string>;
}

/** The parameters of a login to restart it with: Kinde's `reauth_state` (no state, nonce or PKCE). */
function reauthParams(req: AuthRequest): Record<string, string> {
  const params: Record<string, string> = { ...req.extras };
  delete params.supports_reauth;
  delete params.is_invitation;
  const add = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== '') params[name] = value;
  };
  add('org_code', req.orgCode);
  add('org_name', req.orgName);
  add('login_hint', req.loginHint);
  add('lang', req.lang);
  add('audience', req.audience.join(' ') || undefined);
  add('prompt', req.prompt.filter((p) => p !== 'none').join(' ') || undefined);
  if (req.isCreateOrg) params.is_create_org = 'true';
  return params;
}

/** The hidden form value that lets an expired sign-in restart, or undefined without `supports_reauth`. */
export function resumeToken(req: AuthRequest): string | undefined {
  if (req.extras?.supports_reauth !== 'true') return undefined;
  const resumable: Resumable = {
    client_id: req.clientId,
    redirect_uri: req.redirectUri,
    ...(req.state === undefined ? {} : { state: req.state }),
    params: reauthParams(req),
  };
  return Buffer.from(JSON.stringify(resumable)).toString('base64url');
}

/**
 * Where an expired sign-in goes when its page carried a resume token: the client's callback with
 * `error=login_link_expired&reauth_state=<base64 JSON>` (as Kinde answers), after the same checks
 * of `client_id` and `redirect_uri` a new request gets. Undefined when the token is not usable.
 */
export function expiredLoginTarget(directory: Directory, token: string | undefined): string | undefined {
  if (token === undefined || token.length > 8192) return undefined;
  let resumable: Resumable;
  try {
    resumable = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Resumable;
  } catch {
    return undefined;
  }
  if (typeof resumable !== 'object' || resumable === null) return undefined;
  const app =
    typeof resumable.client_id === 'string' ? findApplication(directory, resumable.client_id) : undefined;
  if (!app || typeof resumable.redirect_uri !== 'string' || !isAllowedRedirect(app, resumable.redirect_uri))
    return undefined;
  const params = typeof resumable.params === 'object' && resumable.params !== null ? resumable.params : {};
  const url = new URL(resumable.redirect_uri);
  url.searchParams.set('error', 'login_link_expired');
  url.searchParams.set('error_description', 'The sign-in link has expired');
  url.searchParams.set('reauth_state', Buffer.from(JSON.stringify(params)).toString('base64'));
  if (typeof resumable.state === 'string') url.searchParams.set('state', resumable.state);
  return url.href;
}
