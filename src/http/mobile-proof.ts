import { OPAQUE } from '../domain/opaque'
import { KeywardError } from './problem'

/**
 * A mobile app's PKCE challenge, as a login or a handoff to it receives one: S256 only, base64url of
 * a SHA-256. `message` names the request's own parameter names.
 */
export function pkceChallenge(challenge: unknown, method: unknown, message: string): string {
  if (method !== 'S256' || typeof challenge !== 'string' || !OPAQUE.test(challenge)) {
    throw new KeywardError('invalid_request', message)
  }
  return challenge
}

/** The `state` a mobile app may send, to get it back with its code: printable ASCII, or none. */
export function appState(state: unknown): string | undefined {
  if (state !== undefined && (typeof state !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(state))) {
    throw new KeywardError('invalid_request', 'state must be 1 to 256 printable ASCII characters.')
  }
  return state
}
