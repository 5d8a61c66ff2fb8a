// The identity provider for every protected row, in its own process (it stands for Kinde, which is remote).
// Signs with a key made here and hands the private half to the runner, so the runner can mint
// never-seen bearer tokens in bulk without a round trip per token.
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { defaultDirectory, isAtobSafeKid, startEmulator } from 'kinde-emulator';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

function kid() {
  for (;;) {
    const candidate = `bench.${randomBytes(12).toString('hex')}`;
    if (isAtobSafeKid(candidate)) return candidate;
  }
}

const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const keyId = kid();
const jwk = await exportJWK(publicKey);
const key = {
  kid: keyId,
  privateKey,
  publicKey,
  publicJwk: { kty: 'RSA', n: jwk.n, e: jwk.e, kid: keyId, use: 'sig', alg: 'RS256' },
  createdAt: Math.floor(Date.now() / 1000),
};
const emulator = await startEmulator({ port: portFromEnv(), keys: [key] });
const application = defaultDirectory().applications[0];
ready({
  issuerUrl: emulator.issuerUrl,
  clientId: application.clientId,
  clientSecret: application.clientSecret,
  kid: keyId,
  privateJwk: await exportJWK(privateKey),
});
exitOnSignal(() => emulator.close());
