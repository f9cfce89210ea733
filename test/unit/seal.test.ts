import { randomBytes } from 'node:crypto'
import { createSealer } from '../../src/store/seal'

const k1 = { kid: 'k1', key: randomBytes(32) }
const k2 = { kid: 'k2', key: randomBytes(32) }

describe('sealed token records', () => {
  test('a sealed value opens with the same key and record id, and hides the plaintext', () => {
    const sealer = createSealer([k1])
    const sealed = sealer.seal('{"accessToken":"secret-value"}', 'record-1')
    expect(sealed).not.toContain('secret-value')
    expect(sealed.startsWith('k1.')).toBe(true)
    expect(sealer.open(sealed, 'record-1')).toBe('{"accessToken":"secret-value"}')
    expect(sealer.seal('same', 'r')).not.toBe(sealer.seal('same', 'r')) // a fresh IV every time
  })

  test('a value moved to another record, or altered, does not open', () => {
    const sealer = createSealer([k1])
    const sealed = sealer.seal('tokens', 'record-1')
    expect(() => sealer.open(sealed, 'record-2')).toThrow()
    const [kid, iv, body, tag] = sealed.split('.')
    const flipped = `${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`
    expect(() => sealer.open([kid, iv, flipped, tag].join('.'), 'record-1')).toThrow()
    expect(() => sealer.open('garbage', 'record-1')).toThrow()
  })

  test('rotation: the first key seals, older keys still open, a retired key no longer does', () => {
    const old = createSealer([k1]).seal('tokens', 'r')
    const rotated = createSealer([k2, k1])
    expect(rotated.open(old, 'r')).toBe('tokens')
    expect(rotated.seal('tokens', 'r').startsWith('k2.')).toBe(true)
    expect(() => createSealer([k2]).open(old, 'r')).toThrow(/unknown key id "k1"/)
  })

  test('at least one key is required', () => {
    expect(() => createSealer([])).toThrow(TypeError)
  })
})
