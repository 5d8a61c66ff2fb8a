import { KindeAuthError } from './errors.js';

function fail(message: string): never {
  throw new KindeAuthError('ERR_CONFIG', message);
}

/**
 * Public suffixes a Domain could be mistaken for beyond single labels (`com`, `localhost`): the
 * second-level registries and shared hosts met most often. Not the whole Public Suffix List; the
 * browser, which holds it, ignores a cookie for any other public suffix.
 */
const PUBLIC_SUFFIXES = new Set([
  'co.uk',
  'org.uk',
  'ac.uk',
  'gov.uk',
  'me.uk',
  'ltd.uk',
  'plc.uk',
  'net.uk',
  'com.au',
  'net.au',
  'org.au',
  'edu.au',
  'gov.au',
  'co.nz',
  'org.nz',
  'net.nz',
  'co.jp',
  'ne.jp',
  'or.jp',
  'co.kr',
  'co.in',
  'co.za',
  'com.br',
  'com.cn',
  'com.mx',
  'com.tr',
  'com.sg',
  'com.hk',
  'com.tw',
  'co.il',
  'com.ar',
  'co.id',
  'com.my',
  'com.ph',
  'github.io',
  'gitlab.io',
  'herokuapp.com',
  'vercel.app',
  'netlify.app',
  'pages.dev',
  'workers.dev',
  'web.app',
  'firebaseapp.com',
  'appspot.com',
  'azurewebsites.net',
  'cloudfront.net',
  'fly.dev',
  'onrender.com',
  'up.railway.app',
  'ngrok.io',
  'ngrok-free.app',
  'loca.lt',
  'glitch.me',
]);
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * `cookieDomain` / `KINDE_COOKIE_DOMAIN`: a registrable domain that is the site's host or a parent of
 * it. The value checked is the one used: trimmed, lower case, one leading dot dropped (RFC 6265 ignores it).
 */
export function resolveCookieDomain(raw: string | undefined, siteUrl: URL): string | undefined {
  const name = 'KINDE_COOKIE_DOMAIN (option "cookieDomain")';
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') fail(`${name} must be a string such as "example.com"`);
  if (raw.trim() === '') return undefined;
  const domain = raw.trim().toLowerCase().replace(/^\./, '');
  const labels = domain.split('.');
  if (!labels.every((label) => LABEL.test(label)))
    fail(
      `${name} must be a domain name such as example.com (no scheme, port, path or wildcard); got "${raw}"`,
    );
  if (labels.every((label) => /^[0-9]+$/.test(label)) || /^[0-9]+$/.test(labels.at(-1)!))
    fail(`${name} must be a domain name, not an IP address (an IP address has no subdomains); got "${raw}"`);
  if (labels.length < 2 || PUBLIC_SUFFIXES.has(domain))
    fail(
      `${name} must not be a public suffix such as "com" or "co.uk": browsers refuse such a cookie, and it would reach every site under it; got "${raw}"`,
    );
  const host = siteUrl.hostname.toLowerCase();
  if (host !== domain && !host.endsWith(`.${domain}`))
    fail(
      `${name} must be the host of KINDE_SITE_URL ("${host}") or a parent domain of it, or browsers refuse the cookie; got "${raw}"`,
    );
  return domain;
}
