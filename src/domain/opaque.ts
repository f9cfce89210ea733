import { createHash, randomBytes } from 'node:crypto'

/** 256 random bits, base64url: ids, codes, handles, binding values. */
export const randomOpaque = (): string => randomBytes(32).toString('base64url')

/** The shape of `randomOpaque()`'s values, and of SHA-256 digests in base64url. */
export const OPAQUE = /^[A-Za-z0-9_-]{43}$/

/** The prefix marks keyward's mobile session handles, for secret scanners and for the bearer check. */
export const HANDLE_PREFIX = 'kw_'

/** What Redis keeps of a value a client presents (a code, a handle, a binding): its SHA-256. */
export const digest = (value: string): string => createHash('sha256').update(value).digest('base64url')

/**
 * A token session's id, from the credential that opens it: a mobile handle, or a browser's cookie
 * session id (which only opens it with its signature, made with SESSION_SECRET). One read finds the
 * session, and Redis keeps no handle.
 */
export const sessionIdOf = (credential: string): string => digest(credential)

/** RFC 7636 S256: the code challenge of a verifier. */
export const s256 = (verifier: string): string => digest(verifier)
