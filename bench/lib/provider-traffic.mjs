// The requests an OpenID Connect client makes of its identity provider (discovery, the key set, a
// token request, here refused), 20 times over: the history that bench/process-history.mjs gives a
// process, sent from it (servers/fastify-history.mjs, HISTORY=outgoing) or to its own emulator.

/** @param {string} issuer  the provider's base URL */
export async function providerTraffic(issuer) {
  const text = (/** @type {Response} */ r) => r.text();
  for (let i = 0; i < 20; i++) {
    await fetch(`${issuer}/.well-known/openid-configuration`).then(text);
    await fetch(`${issuer}/.well-known/jwks.json`).then(text);
    await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=unknown&client_secret=wrong',
    }).then(text);
  }
}
