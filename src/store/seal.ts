import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export interface EncryptionKey {
  kid: string
  key: Buffer
}

const IV = 12
const TAG = 16

/**
 * AES-256-GCM with a key id, so keys rotate without logging anyone out: the first key seals, every
 * listed key still opens. `aad` binds a ciphertext to its record, so it cannot be moved to another.
 * Sealed values are bytes (Redis keeps them as they are): the key id's length and the key id, the IV,
 * the 16-byte tag, then the ciphertext.
 */
export function createSealer(keys: readonly EncryptionKey[]) {
  const [current] = keys
  if (!current) throw new TypeError('at least one encryption key is needed')
  const byKid = new Map(keys.map((k) => [k.kid, k.key]))
  const kid = Buffer.from(current.kid)

  return {
    seal(plaintext: Buffer | string, aad: string): Buffer {
      const iv = randomBytes(IV)
      const cipher = createCipheriv('aes-256-gcm', current.key, iv, { authTagLength: TAG }).setAAD(Buffer.from(aad))
      const body = Buffer.concat([cipher.update(Buffer.from(plaintext)), cipher.final()])
      return Buffer.concat([Buffer.of(kid.length), kid, iv, cipher.getAuthTag(), body])
    },

    /** Throws when the key id is unknown or the value was altered, cut short, or sealed for another record. */
    open(sealed: Buffer, aad: string): Buffer {
      const kidEnd = 1 + (sealed[0] ?? 0)
      const name = sealed.subarray(1, kidEnd).toString()
      const key = byKid.get(name)
      if (!key || sealed.length < kidEnd + IV + TAG)
        throw new Error(`sealed value uses an unknown key id ${JSON.stringify(name)}`)
      const iv = sealed.subarray(kidEnd, kidEnd + IV)
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG })
        .setAAD(Buffer.from(aad))
        .setAuthTag(sealed.subarray(kidEnd + IV, kidEnd + IV + TAG))
      return Buffer.concat([decipher.update(sealed.subarray(kidEnd + IV + TAG)), decipher.final()])
    },
  }
}

export type Sealer = ReturnType<typeof createSealer>
