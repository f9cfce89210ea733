import { createHash } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose'
import type { UpstreamConfig } from '../../src/config/types'
import { newDPoPKey } from '../../src/oidc/dpop'
import { dpopProof } from '../../src/domain/dpop-proof'
import { createForwarder } from '../../src/upstream/forward'

const key = newDPoPKey()
const accessToken = 'header.payload.signature'

describe('a DPoP proof for an upstream call (RFC 9449 §4.2)', () => {
  test("signed with the session's key, which its header carries (no private part); for this method, URL without query, and token", async () => {
    const proof = await dpopProof(key, { method: 'POST', url: 'https://api.example/orders/7?x=1#f', accessToken })
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' })
    expect(protectedHeader).toEqual({
      alg: 'ES256',
      typ: 'dpop+jwt',
      jwk: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y },
    })
    expect(payload).toEqual({
      htm: 'POST',
      htu: 'https://api.example/orders/7',
      ath: createHash('sha256').update(accessToken).digest('base64url'),
      jti: expect.stringMatching(/^[\w-]{22}$/),
      iat: expect.any(Number),
    })
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(2)
    expect(await calculateJwkThumbprint(protectedHeader.jwk!)).toBe(
      await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y }),
    )
  })

  test('each proof has its own jti; a nonce given is carried', async () => {
    const call = { method: 'GET', url: 'http://api.example/a', accessToken, nonce: 'n-1' }
    const [a, b] = await Promise.all([dpopProof(key, call), dpopProof(key, call)])
    const claims = (jwt: string) =>
      JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>
    expect(claims(a).jti).not.toBe(claims(b).jti)
    expect(claims(a).nonce).toBe('n-1')
  })
})

describe("the forwarder's DPoP calls", () => {
  let server: Server
  const seen: IncomingHttpHeaders[] = []
  let nonce = 'first'
  const upstream = () =>
    ({
      url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/base`),
      timeoutMs: 2000,
    }) as UpstreamConfig
  const forwarder = createForwarder()
  const nonceOf = (h: IncomingHttpHeaders) =>
    JSON.parse(Buffer.from(String(h.dpop).split('.')[1], 'base64url').toString()).nonce as string | undefined

  // An upstream that wants its current nonce in every proof, and gives it with each answer.
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers)
      req.resume()
      const ok = nonceOf(req.headers) === nonce
      res.writeHead(ok ? 200 : 401, {
        'dpop-nonce': nonce,
        ...(ok ? {} : { 'www-authenticate': 'DPoP error="use_dpop_nonce"' }),
      })
      res.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    await forwarder.close()
    await new Promise((resolve) => server.close(resolve))
  })

  const call = (body?: Buffer | NodeJS.ReadableStream) => ({
    method: body ? 'POST' : 'GET',
    pathAndQuery: '/x?y=1',
    headers: { authorization: 'Bearer from-the-client', dpop: 'from-the-client' },
    body,
    accessToken,
    dpopKey: key,
    forwardedFor: { ip: '127.0.0.1', proto: 'http', host: 'app.example' },
  })

  test("a nonce challenge is answered once, the nonce kept for the next calls; the client's own Authorization and DPoP never pass", async () => {
    seen.length = 0
    const first = await forwarder.send(upstream(), call())
    await first.body.dump()
    expect(first.statusCode).toBe(200)
    expect(seen.map(nonceOf)).toEqual([undefined, 'first'])
    expect(first.headers['dpop-nonce']).toBe('first')
    expect(forwarder.responseHeaders(first.headers)['dpop-nonce']).toBeUndefined()
    expect(seen[1].authorization).toBe(`DPoP ${accessToken}`)
    const { payload } = await jwtVerify(String(seen[1].dpop), EmbeddedJWK)
    expect(payload).toMatchObject({ htm: 'GET', htu: `${upstream().url.origin}/base/x` })
    expect(decodeProtectedHeader(String(seen[1].dpop)).typ).toBe('dpop+jwt')

    seen.length = 0
    await (await forwarder.send(upstream(), call(Buffer.from('{}')))).body.dump()
    expect(seen.map(nonceOf)).toEqual(['first'])
  })

  test('a new nonce: answered again with a body it can send twice; a streamed body is not sent twice, and the challenge reaches the caller', async () => {
    nonce = 'second'
    seen.length = 0
    const again = await forwarder.send(upstream(), call(Buffer.from('{}')))
    await again.body.dump()
    expect([again.statusCode, seen.map(nonceOf)]).toEqual([200, ['first', 'second']])

    nonce = 'third'
    seen.length = 0
    const streamed = await forwarder.send(upstream(), call(Readable.from([Buffer.from('{}')])))
    await streamed.body.dump()
    expect([streamed.statusCode, seen.map(nonceOf)]).toEqual([401, ['second']])
    seen.length = 0
    await (await forwarder.send(upstream(), call())).body.dump()
    expect(seen.map(nonceOf)).toEqual(['third'])
  })
})
