import type { DPoPKey, TokenSet } from '../domain/token-session'

/**
 * The tokens of a session as compact bytes, before they are sealed: a JWT's three base64url parts are
 * kept as the bytes they encode (a quarter smaller than the text; Redis memory per session is what
 * this buys), anything else as its UTF-8 text. Each token is a tag byte (1: JWT, 0: text) and its
 * parts, each with a 2-byte length; the access token comes first, then the refresh token if any.
 * A DPoP key, if any, follows as tag 2 and its `x`, `y` and `d` bytes.
 */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

function part(bytes: Buffer): Buffer[] {
  const length = Buffer.alloc(2)
  length.writeUInt16BE(bytes.length)
  return [length, bytes]
}

function encodeToken(token: string): Buffer[] {
  if (JWT.test(token)) {
    const parts = token.split('.').map((p) => Buffer.from(p, 'base64url'))
    // Only what decodes back to the very same text is kept as bytes (no padding, no stray bits).
    if (parts.map((p) => p.toString('base64url')).join('.') === token) return [Buffer.of(1), ...parts.flatMap(part)]
  }
  return [Buffer.of(0), ...part(Buffer.from(token, 'utf8'))]
}

function encodeKey(key: DPoPKey): Buffer[] {
  return [Buffer.of(2), ...[key.x, key.y, key.d].flatMap((p) => part(Buffer.from(p, 'base64url')))]
}

export function encodeTokens(tokens: TokenSet): Buffer {
  const all = tokens.refreshToken === undefined ? [tokens.accessToken] : [tokens.accessToken, tokens.refreshToken]
  return Buffer.concat([...all.flatMap(encodeToken), ...(tokens.dpopKey ? encodeKey(tokens.dpopKey) : [])])
}

export function decodeTokens(bytes: Buffer): TokenSet {
  const tokens: string[] = []
  let dpopKey: DPoPKey | undefined
  let at = 0
  const next = (): Buffer => {
    const length = bytes.readUInt16BE(at)
    const value = bytes.subarray(at + 2, at + 2 + length)
    if (value.length !== length) throw new RangeError('token bytes cut short')
    at += 2 + length
    return value
  }
  while (at < bytes.length) {
    const tag = bytes[at++]
    if (tag === 1) tokens.push([next(), next(), next()].map((p) => p.toString('base64url')).join('.'))
    else if (tag === 0) tokens.push(next().toString('utf8'))
    else if (tag === 2) {
      const [x, y, d] = [next(), next(), next()].map((p) => p.toString('base64url'))
      dpopKey = { x, y, d }
    } else throw new RangeError(`unknown token tag ${tag}`)
  }
  const [accessToken, refreshToken] = tokens
  if (accessToken === undefined) throw new RangeError('no access token')
  return {
    accessToken,
    ...(refreshToken === undefined ? {} : { refreshToken }),
    ...(dpopKey ? { dpopKey } : {}),
  }
}
