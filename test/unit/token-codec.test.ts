import { randomBytes } from 'node:crypto'
import { decodeTokens, encodeTokens } from '../../src/store/token-codec'

const b64 = (n: number) => randomBytes(n).toString('base64url')
const jwt = () => `${b64(40)}.${b64(900)}.${b64(256)}`

describe('the tokens of a session as bytes', () => {
  test('JWTs round-trip and take a quarter less room than their text', () => {
    const tokens = { accessToken: jwt(), refreshToken: jwt() }
    const bytes = encodeTokens(tokens)
    expect(decodeTokens(bytes)).toEqual(tokens)
    expect(bytes.length).toBeLessThan(JSON.stringify(tokens).length * 0.77)
  })

  test('a token that is not a JWT, or not in canonical base64url, is kept as its text', () => {
    for (const accessToken of ['opaque-token value ✓', 'a.b.c=', 'YQ.YR.YQ', '']) {
      expect(decodeTokens(encodeTokens({ accessToken }))).toEqual({ accessToken })
    }
  })

  test('the refresh token is optional', () => {
    const tokens = { accessToken: jwt() }
    expect(decodeTokens(encodeTokens(tokens))).toEqual(tokens)
  })

  test("a session's DPoP key travels with its tokens, with or without a refresh token", () => {
    const dpopKey = { x: b64(32), y: b64(32), d: b64(32) }
    for (const tokens of [
      { accessToken: jwt(), refreshToken: jwt(), dpopKey },
      { accessToken: jwt(), dpopKey },
    ]) {
      expect(decodeTokens(encodeTokens(tokens))).toStrictEqual(tokens)
    }
    const bytes = encodeTokens({ accessToken: jwt(), dpopKey })
    expect(() => decodeTokens(bytes.subarray(0, bytes.length - 1))).toThrow(RangeError)
  })

  test('bytes cut short or with an unknown tag are refused, not misread', () => {
    const bytes = encodeTokens({ accessToken: jwt(), refreshToken: jwt() })
    expect(() => decodeTokens(bytes.subarray(0, bytes.length - 10))).toThrow(RangeError)
    expect(() => decodeTokens(Buffer.concat([Buffer.of(7), bytes]))).toThrow(RangeError)
    expect(() => decodeTokens(Buffer.alloc(0))).toThrow(RangeError)
  })
})
