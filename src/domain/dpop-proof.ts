import { createHash, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { DPoPKey } from './token-session'

// Imported keys by their public part: a session's key is used for each of its calls, and importing
// costs as much as signing. Bounded; the oldest goes first.
const KEYS_HELD = 1000
const imported = new Map<string, KeyObject>()

function keyObject(key: DPoPKey): KeyObject {
  const id = `${key.x}.${key.y}`
  let held = imported.get(id)
  if (!held) {
    held = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', ...key }, format: 'jwk' })
    if (imported.size >= KEYS_HELD) imported.delete(imported.keys().next().value!)
    imported.set(id, held)
  }
  return held
}

/**
 * A DPoP proof (RFC 9449 §4) for one call made with `key`: the method, the URL without query or
 * fragment, a unique `jti`, with an access token bound to the key its hash (`ath`), and the server's
 * last `DPoP-Nonce` when it gave one.
 */
export function dpopProof(
  key: DPoPKey,
  call: { method: string; url: string; accessToken?: string; nonce?: string },
): Promise<string> {
  const url = new URL(call.url)
  return new SignJWT({
    htm: call.method,
    htu: `${url.origin}${url.pathname}`,
    ...(call.accessToken ? { ath: createHash('sha256').update(call.accessToken).digest('base64url') } : {}),
    ...(call.nonce ? { nonce: call.nonce } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y } })
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuedAt()
    .sign(keyObject(key))
}
