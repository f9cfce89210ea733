import { freshness } from '../../src/domain/freshness'
import { singleFlight } from '../../src/sessions/single-flight'

const cfg = { skewSeconds: 30, skewFraction: 0.25 }

describe('freshness', () => {
  test('5-minute tokens: fresh until 30 s are left, then stale, then expired', () => {
    const s = { refreshedAt: 0, accessExpiresAt: 300_000 }
    expect(freshness(s, 0, cfg)).toBe('fresh')
    expect(freshness(s, 269_999, cfg)).toBe('fresh')
    expect(freshness(s, 270_000, cfg)).toBe('stale')
    expect(freshness(s, 298_999, cfg)).toBe('stale')
    // Within a second of its expiry a token is not sent: it could expire on its way.
    expect(freshness(s, 299_000, cfg)).toBe('expired')
    expect(freshness(s, 300_000, cfg)).toBe('expired')
  })

  test('10-second tokens: the window is a quarter of the lifetime, not 30 s', () => {
    const s = { refreshedAt: 0, accessExpiresAt: 10_000 }
    expect(freshness(s, 0, cfg)).toBe('fresh')
    expect(freshness(s, 7_499, cfg)).toBe('fresh')
    expect(freshness(s, 7_500, cfg)).toBe('stale')
    expect(freshness(s, 10_001, cfg)).toBe('expired')
  })
})

describe('singleFlight', () => {
  test('callers of one key share one call; the slot clears after it settles, even on failure', async () => {
    const flights = singleFlight<number>()
    let calls = 0
    let release!: (n: number) => void
    const call = () => {
      calls++
      return new Promise<number>((resolve) => (release = resolve))
    }
    const all = Promise.all([flights.run('a', call), flights.run('a', call), flights.run('a', call)])
    expect(calls).toBe(1)
    release(7)
    expect(await all).toEqual([7, 7, 7])
    expect(flights.size).toBe(0)

    await expect(flights.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(flights.size).toBe(0)
    expect(await flights.run('a', async () => 8)).toBe(8)
  })

  test('different keys run independently', async () => {
    const flights = singleFlight<string>()
    expect(await Promise.all([flights.run('a', async () => 'A'), flights.run('b', async () => 'B')])).toEqual([
      'A',
      'B',
    ])
  })
})
