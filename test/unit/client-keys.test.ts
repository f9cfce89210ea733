import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../harness/temp-dir'
import { readClientKey } from '../../src/config/client-keys'
import { loadConfig } from '../../src/config/load'
import type { ClientKey } from '../../src/config/types'
import { problemsWith, productionEnv } from '../support/server-env'

const dir = tempDir('client-keys')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
function file(text: string): string {
  const path = join(dir, `key-${files++}`)
  writeFileSync(path, text)
  return path
}
const pem = (type: 'ec' | 'rsa' | 'ed25519', options: object) =>
  generateKeyPairSync(type as 'ec', options as { namedCurve: string }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string
const ec = (namedCurve = 'P-256') => pem('ec', { namedCurve })

/** The key, or the test fails naming what readClientKey said. */
function read(path: string): ClientKey {
  const key = readClientKey(path)
  if (typeof key === 'string') throw new Error(key)
  return key
}

describe('a client key file (private_key_jwt)', () => {
  test('a PEM EC P-256 key signs ES256; its kid is its RFC 7638 thumbprint; the public JWK has no private part', () => {
    const key = read(file(ec()))
    expect(key.alg).toBe('ES256')
    expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(key.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: key.kid, alg: 'ES256', use: 'sig' })
    expect(key.publicJwk).not.toHaveProperty('d')
    // The same key read again has the same kid; the public JWK verifies what the private one signs.
    const again = read(file(JSON.stringify(key.privateJwk)))
    expect(again.kid).toBe(key.kid)
    const data = Buffer.from('assertion')
    const signature = sign('sha256', data, createPrivateKey({ key: key.privateJwk, format: 'jwk' }))
    expect(verify('sha256', data, createPublicKey({ key: key.publicJwk, format: 'jwk' }), signature)).toBe(true)
  })

  test('an RSA key signs PS256; its kid is the SHA-256 of its members e, kty, n in that order (RFC 7638)', () => {
    const key = read(file(pem('rsa', { modulusLength: 2048 })))
    const { e, n } = key.publicJwk as { e: string; n: string }
    const canonical = `{"e":"${e}","kty":"RSA","n":"${n}"}`
    expect(key.kid).toBe(createHash('sha256').update(canonical).digest('base64url'))
    expect(key.alg).toBe('PS256')
  })

  test("a JWK's own kid and alg are kept; Ed25519 signs EdDSA, P-384 ES384", () => {
    const rsa = read(file(pem('rsa', { modulusLength: 2048 })))
    const named = read(file(JSON.stringify({ ...rsa.privateJwk, kid: 'rotation-2', alg: 'RS256' })))
    expect(named).toMatchObject({ kid: 'rotation-2', alg: 'RS256', publicJwk: { kid: 'rotation-2', alg: 'RS256' } })
    expect(read(file(pem('ed25519', {}))).alg).toBe('EdDSA')
    expect(read(file(ec('P-384'))).alg).toBe('ES384')
  })

  test('what cannot sign an assertion is refused, saying why', () => {
    const key = read(file(ec()))
    expect(readClientKey(join(dir, 'missing'))).toMatch(/missing could not be read \(ENOENT/)
    expect(readClientKey(file(JSON.stringify(key.publicJwk)))).toMatch(
      /holds a public key; keyward signs with the private one$/,
    )
    expect(readClientKey(file('not a key'))).toMatch(/holds no private key keyward can read/)
    expect(readClientKey(file(pem('rsa', { modulusLength: 1024 })))).toMatch(
      /a rsa key cannot sign client assertions; use an EC key \(P-256: ES256\), an RSA key of 2048 bits or more/,
    )
    expect(readClientKey(file(JSON.stringify({ ...key.privateJwk, alg: 'PS256' })))).toMatch(
      /a ec key for PS256 cannot sign/,
    )
  })
})

describe('OIDC_CLIENT_AUTH=private_key_jwt', () => {
  const { OIDC_CLIENT_SECRET: _secret, ...withoutSecret } = productionEnv

  test('the key files make the app’s keys, first the one that signs; no client secret is needed', () => {
    const [first, next] = [file(ec()), file(ec())]
    const app = loadConfig({
      ...withoutSecret,
      OIDC_CLIENT_AUTH: 'private_key_jwt',
      OIDC_CLIENT_KEY_FILE: first,
      OIDC_CLIENT_KEY_NEXT_FILE: next,
    }).apps[0]
    expect(app.clientAuth).toBe('private_key_jwt')
    expect(app.clientKeys.map((k) => k.kid)).toEqual([read(first).kid, read(next).kid])
  })

  test('problems name the variable: no key file, the same key twice, a key without private_key_jwt, no secret without it', () => {
    const key = file(ec())
    expect(problemsWith({ OIDC_CLIENT_AUTH: 'private_key_jwt' })).toEqual([
      'OIDC_CLIENT_KEY_FILE: the file of the key keyward signs its client assertions with (private_key_jwt), e.g. /run/secrets/keyward-client.pem',
    ])
    expect(
      problemsWith({ OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_KEY_FILE: key, OIDC_CLIENT_KEY_NEXT_FILE: key }),
    ).toEqual([`OIDC_CLIENT_KEY_NEXT_FILE: the same key (kid ${read(key).kid}) as OIDC_CLIENT_KEY_FILE`])
    expect(problemsWith({ OIDC_CLIENT_KEY_FILE: key })).toEqual([
      'OIDC_CLIENT_KEY_FILE: a key signs assertions only with OIDC_CLIENT_AUTH=private_key_jwt',
    ])
    expect(problemsWith({ OIDC_CLIENT_AUTH: 'client_secret_jwt' })).toEqual([
      'OIDC_CLIENT_AUTH: client_secret_basic or private_key_jwt (got "client_secret_jwt")',
    ])
    expect(problemsWith({ OIDC_CLIENT_SECRET: '' })).toEqual([
      "OIDC_CLIENT_SECRET: the Keycloak client's secret (Credentials tab) (not set)",
    ])
  })
})
