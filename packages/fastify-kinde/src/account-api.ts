import { KindeAuthError } from './errors.js';
import { providerFailure } from './oidc.js';

/** A billing entitlement, named as `@kinde/js-utils` names it (`getEntitlements()`). */
export interface KindeEntitlement {
  id: string;
  fixedCharge: number | null;
  priceName: string | null;
  unitAmount: number | null;
  featureKey: string;
  featureName: string | null;
  entitlementLimitMax: number | null;
  entitlementLimitMin: number | null;
}

/** A plan the user (or their organization) is subscribed to. */
export interface KindePlan {
  key: string;
  subscribedOn: string | null;
}

/** `getEntitlements()`: the Account API's `/account_api/v1/entitlements`, every page. Frozen: it is shared for 30 s. */
export interface KindeEntitlements {
  readonly orgCode: string | null;
  readonly plans: readonly Readonly<KindePlan>[];
  readonly entitlements: readonly Readonly<KindeEntitlement>[];
}

/** `getEntitlement(key)`: one entitlement by feature key, or null when the user has none. */
export interface KindeEntitlementResult {
  orgCode: string | null;
  entitlement: KindeEntitlement | null;
}

/** The parts of Kinde's Account API a server reads with a user's access token. */
export interface AccountApi {
  entitlements(accessToken: string): Promise<KindeEntitlements>;
  entitlement(accessToken: string, key: string): Promise<KindeEntitlementResult>;
}

/** A page of the Account API: `{data, metadata: {has_more, next_page_starting_after}}`. */
interface AccountPage {
  data?: Record<string, unknown> | null;
  metadata?: { has_more?: unknown; next_page_starting_after?: unknown } | null;
}

const TIMEOUT_MS = 5_000;
/** Pages followed at most: a provider that always says `has_more` cannot hold a request forever. */
const MAX_PAGES = 50;
const KEY = /^[A-Za-z0-9_:.-]{1,128}$/;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function entitlementOf(raw: unknown): KindeEntitlement | null {
  if (raw === null || typeof raw !== 'object') return null;
  const e = raw as Record<string, unknown>;
  if (typeof e.feature_key !== 'string') return null;
  return {
    id: String(e.id ?? ''),
    fixedCharge: num(e.fixed_charge),
    priceName: str(e.price_name),
    unitAmount: num(e.unit_amount),
    featureKey: e.feature_key,
    featureName: str(e.feature_name),
    entitlementLimitMax: num(e.entitlement_limit_max),
    entitlementLimitMin: num(e.entitlement_limit_min),
  };
}

function malformed(what: string): KindeAuthError {
  return new KindeAuthError('ERR_PROVIDER_UNAVAILABLE', `The Account API answered ${what}`);
}

/**
 * Kinde's Account API (`<issuer>/account_api/v1/...`) for the signed-in user's access token. The base
 * URL is the configured issuer, never one read from a token, so a token cannot send itself elsewhere.
 *
 * @example
 * ```ts
 * const api = createAccountApi('https://acme.kinde.com');
 * const { entitlements } = await api.entitlements(accessToken);
 * ```
 */
export function createAccountApi(issuerUrl: string): AccountApi {
  async function page(path: string, accessToken: string): Promise<AccountPage & { status: number }> {
    let response: Response;
    try {
      response = await fetch(`${issuerUrl}/account_api/v1/${path}`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw providerFailure(error, 'The Account API could not be reached');
    }
    const body = (await response.json().catch(() => null)) as AccountPage | null;
    if (response.status === 401 || response.status === 403)
      throw new KindeAuthError('ERR_TOKEN_INVALID', 'The Account API refused the access token');
    if (response.status === 404) return { status: 404 };
    if (!response.ok) throw malformed(`HTTP ${response.status}`);
    if (body === null || typeof body !== 'object') throw malformed('no JSON');
    return { ...body, status: response.status };
  }

  return {
    async entitlements(accessToken) {
      const result: { orgCode: string | null; plans: KindePlan[]; entitlements: KindeEntitlement[] } = {
        orgCode: null,
        plans: [],
        entitlements: [],
      };
      const plans = new Map<string, KindePlan>();
      const seen = new Set<string>();
      let cursor: string | undefined;
      for (let pages = 0; ; pages++) {
        if (pages === MAX_PAGES) throw malformed(`more than ${MAX_PAGES} pages of entitlements`);
        const query = cursor === undefined ? '' : `?starting_after=${encodeURIComponent(cursor)}`;
        const answer = await page(`entitlements${query}`, accessToken);
        if (answer.status === 404) throw malformed('404: is billing enabled for this environment?');
        const data = answer.data ?? {};
        result.orgCode = str(data.org_code) ?? result.orgCode;
        for (const p of Array.isArray(data.plans) ? data.plans : []) {
          const key = str((p as { key?: unknown })?.key);
          if (key !== null)
            plans.set(key, { key, subscribedOn: str((p as { subscribed_on?: unknown }).subscribed_on) });
        }
        for (const raw of Array.isArray(data.entitlements) ? data.entitlements : []) {
          const e = entitlementOf(raw);
          if (e !== null) result.entitlements.push(e);
        }
        const more = answer.metadata?.has_more === true;
        const next = str(answer.metadata?.next_page_starting_after);
        if (!more) break;
        if (next === null || seen.has(next))
          throw malformed('has_more without a new next_page_starting_after');
        seen.add(next);
        cursor = next;
      }
      result.plans = [...plans.values()];
      // Frozen: a session's requests share this answer for a while (and `has()` conditions receive it).
      for (const e of result.entitlements) Object.freeze(e);
      for (const p of result.plans) Object.freeze(p);
      Object.freeze(result.entitlements);
      Object.freeze(result.plans);
      return Object.freeze(result);
    },

    async entitlement(accessToken, key) {
      if (typeof key !== 'string' || !KEY.test(key))
        throw new KindeAuthError(
          'ERR_BAD_REQUEST',
          'An entitlement key is 1 to 128 letters, digits, "_", ":", "." or "-"',
        );
      const answer = await page(`entitlement/${encodeURIComponent(key)}`, accessToken);
      const data = answer.data ?? {};
      return { orgCode: str(data.org_code), entitlement: entitlementOf(data.entitlement) };
    },
  };
}
