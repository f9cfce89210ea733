import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export interface EncryptionKey {
  kid: string
  key: Buffer
}

/**
 * AES-256-GCM with a key id, so keys rotate without logging anyone out: the first key seals, every
 * listed key still opens. `aad` binds a ciphertext to its record, so it cannot be moved to another.
 */
export function createSealer(keys: readonly EncryptionKey[]) {
  const [current] = keys
  if (!current) throw new TypeError('at least one encryption key is needed')
  const byKid = new Map(keys.map((k) => [k.kid, k.key]))

  return {
    seal(plaintext: string, aad: string): string {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', current.key, iv).setAAD(Buffer.from(aad))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return [
        current.kid,
        iv.toString('base64url'),
        body.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
      ].join('.')
    },
    /** Throws when the key id is unknown or the ciphertext was altered. */
    open(sealed: string, aad: string): string {
      const [kid, iv, body, tag] = sealed.split('.')
      const key = kid === undefined ? undefined : byKid.get(kid)
      if (!key || !iv || !body || !tag) throw new Error(`sealed value uses an unknown key id ${JSON.stringify(kid)}`)
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
        .setAAD(Buffer.from(aad))
        .setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
    },
  }
}

export type Sealer = ReturnType<typeof createSealer>
