import { createHash, randomBytes } from 'node:crypto'

/** 256 random bits, base64url: ids, codes, handles, binding values. */
export const randomOpaque = (): string => randomBytes(32).toString('base64url')

/** What Redis keeps of a value a client presents (a code, a handle, a binding): its SHA-256. */
export const digest = (value: string): string => createHash('sha256').update(value).digest('base64url')

/** RFC 7636 S256: the code challenge of a verifier. */
export const s256 = (verifier: string): string => digest(verifier)
