// How the demo API checks a DPoP proof (RFC 9449 §4.3, §7.1) for a token bound to a key (`cnf.jkt`):
// jose verifies the proof's signature with the key in its own header and its type, age and claims;
// what is left is the binding: the key's thumbprint is the token's, the proof speaks of this very
// request and this very token, and no proof is used twice.
import { createHash, randomBytes } from 'node:crypto'
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose'

const MAX_AGE_SECONDS = 60
const seen = new Map() // jti → when it may be forgotten (ms)

/** A nonce the API wants in proofs (DEMO_DPOP_NONCE=1), renewed every few minutes; none otherwise. */
export function dpopNonces(enabled, lifetimeMs = 5 * 60_000) {
  let current = randomBytes(16).toString('base64url')
  let renewedAt = Date.now()
  return {
    enabled,
    current() {
      if (Date.now() - renewedAt > lifetimeMs) {
        current = randomBytes(16).toString('base64url')
        renewedAt = Date.now()
      }
      return current
    },
  }
}

/** Why a refusal happened, and the WWW-Authenticate error that says so. */
export class DPoPRefusal extends Error {
  constructor(message, error = 'invalid_dpop_proof') {
    super(message)
    this.error = error
  }
}

/**
 * Checks the `DPoP` header of `req` for the access token `token`, whose claims are `claims`; the URL
 * the caller used is `url` (scheme, host and path). Throws a DPoPRefusal; returns the key's thumbprint.
 */
export async function checkProof(req, url, token, claims, nonces) {
  const proof = req.headers.dpop
  if (typeof proof !== 'string') throw new DPoPRefusal('a DPoP-bound token came without its proof')
  let verified
  try {
    verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'],
      maxTokenAge: MAX_AGE_SECONDS,
      clockTolerance: 5,
      requiredClaims: ['jti', 'htm', 'htu', 'iat', 'ath'],
    })
  } catch (err) {
    throw new DPoPRefusal(`the DPoP proof is not valid (${err.code ?? err.message})`)
  }
  const { payload, protectedHeader } = verified
  const jkt = await calculateJwkThumbprint(protectedHeader.jwk)
  if (jkt !== claims.cnf?.jkt) throw new DPoPRefusal('the DPoP proof is made with a key the token is not bound to')
  if (payload.htm !== req.method) throw new DPoPRefusal(`the DPoP proof is for ${payload.htm}, not ${req.method}`)
  if (payload.htu !== url) throw new DPoPRefusal(`the DPoP proof is for ${payload.htu}, not ${url}`)
  if (payload.ath !== createHash('sha256').update(token).digest('base64url')) {
    throw new DPoPRefusal('the DPoP proof is for another access token')
  }
  if (nonces.enabled && payload.nonce !== nonces.current()) {
    throw new DPoPRefusal('the DPoP proof has no current nonce', 'use_dpop_nonce')
  }
  const now = Date.now()
  for (const [jti, until] of seen) {
    if (until >= now) break // kept in the order they came, each as long as the others
    seen.delete(jti)
  }
  if (seen.has(payload.jti)) throw new DPoPRefusal('the DPoP proof was used before')
  seen.set(payload.jti, now + 2 * MAX_AGE_SECONDS * 1000)
  return jkt
}
