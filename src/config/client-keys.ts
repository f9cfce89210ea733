import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ClientKey, ClientKeyAlg } from './types'

/** The JWS algorithm a key signs with by default; FAPI 2.0 allows PS256, ES256 and EdDSA. */
function defaultAlg(key: KeyObject): ClientKeyAlg | undefined {
  const { asymmetricKeyType: type, asymmetricKeyDetails: details } = key
  if (type === 'rsa' || type === 'rsa-pss') return (details?.modulusLength ?? 0) >= 2048 ? 'PS256' : undefined
  if (type === 'ed25519') return 'EdDSA'
  if (type === 'ec') {
    return ({ prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' } as const)[details?.namedCurve ?? '']
  }
  return undefined
}

/** The algorithms a key of its type may name in its JWK's `alg`. */
const ALGS_OF: Record<string, readonly ClientKeyAlg[]> = {
  rsa: ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  ec: ['ES256', 'ES384', 'ES512'],
  ed25519: ['EdDSA'],
}

/** RFC 7638: the SHA-256 of the key's required members, in order; the `kid` of a key that names none. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : ['crv', 'kty', 'x']
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])))
  return createHash('sha256').update(canonical).digest('base64url')
}

/**
 * The private key in `path` that an app signs its client assertions with (private_key_jwt): a PEM
 * private key (PKCS#8, or SEC1 / PKCS#1) or a private JWK (JSON, whose `kid` and `alg` are kept). The
 * `kid` is the key's RFC 7638 thumbprint when the file names none. A string says what is wrong.
 */
export function readClientKey(path: string): ClientKey | string {
  let text: string
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch (err) {
    return `${path} could not be read (${(err as Error).message})`
  }
  let given: JsonWebKey = {}
  let key: KeyObject
  try {
    if (text.startsWith('{')) {
      given = JSON.parse(text) as JsonWebKey
      if (typeof given.d !== 'string') return `${path} holds a public key; keyward signs with the private one`
      key = createPrivateKey({ key: given, format: 'jwk' })
    } else {
      key = createPrivateKey(text)
    }
  } catch {
    return `${path} holds no private key keyward can read: a PEM private key or a private JWK (JSON)`
  }
  const allowed = ALGS_OF[key.asymmetricKeyType ?? ''] ?? []
  const named = typeof given.alg === 'string' ? given.alg : undefined
  const alg = (named as ClientKeyAlg | undefined) ?? defaultAlg(key)
  if (!alg || !allowed.includes(alg)) {
    return (
      `${path}: a ${key.asymmetricKeyType ?? 'symmetric'} key${named ? ` for ${named}` : ''} cannot sign ` +
      'client assertions; use an EC key (P-256: ES256), an RSA key of 2048 bits or more (PS256) or Ed25519 (EdDSA)'
    )
  }
  const jwk = key.export({ format: 'jwk' })
  const kid = typeof given.kid === 'string' && given.kid ? given.kid : thumbprint(jwk)
  const publicJwk = { ...createPublicKey(key).export({ format: 'jwk' }), kid, alg, use: 'sig' }
  return { kid, alg, privateJwk: { ...jwk, kid, alg }, publicJwk }
}
