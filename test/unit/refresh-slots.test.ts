import { Failure } from '../../src/domain/failures'
import { NoRefreshSlot, refreshSlots } from '../../src/sessions/refresh-slots'

/** A call that runs until `finish()` is called, and says when it started. */
function pending(started: string[], name: string) {
  let finish!: () => void
  let fail!: (err: Error) => void
  const done = new Promise<string>((resolve, reject) => {
    finish = () => resolve(name)
    fail = reject
  })
  return {
    call: () => {
      started.push(name)
      return done
    },
    finish: () => finish(),
    fail: (err: Error) => fail(err),
  }
}

const tick = () => new Promise((r) => setImmediate(r))

describe('refreshSlots', () => {
  test('at most `limit` calls at once; the others start in turn as slots free', async () => {
    const slots = refreshSlots(2)
    const started: string[] = []
    const calls = ['a', 'b', 'c', 'd'].map((n) => pending(started, n))
    const settled = Promise.allSettled(calls.map((c) => slots.run(c.call, Date.now() + 10_000)))
    await tick()
    expect(started).toEqual(['a', 'b'])
    expect(slots.load()).toEqual({ inFlight: 2, waiting: 2 })
    calls[1].finish()
    await tick()
    expect(started).toEqual(['a', 'b', 'c'])
    calls[0].fail(new Error('Keycloak timed out')) // a failed call frees its slot too
    await tick()
    expect(started).toEqual(['a', 'b', 'c', 'd'])
    calls[2].finish()
    calls[3].finish()
    expect(await settled).toMatchObject([
      { status: 'rejected' },
      { status: 'fulfilled', value: 'b' },
      { status: 'fulfilled', value: 'c' },
      { status: 'fulfilled', value: 'd' },
    ])
    expect(slots.load()).toEqual({ inFlight: 0, waiting: 0 })
  })

  test('a call that cannot have a slot by its deadline fails as keycloak_unavailable without being made; the line moves on', async () => {
    const slots = refreshSlots(1)
    const started: string[] = []
    const [a, late, c] = ['a', 'late', 'c'].map((n) => pending(started, n))
    const first = slots.run(a.call, Date.now() + 10_000)
    const refused = slots.run(late.call, Date.now() + 20)
    const third = slots.run(c.call, Date.now() + 10_000)
    const err = await refused.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Failure)
    expect(err).toBeInstanceOf(NoRefreshSlot) // counted apart: the refresh outcome `no_slot`
    expect(err).toMatchObject({ kind: 'keycloak_unavailable' })
    expect(slots.load()).toEqual({ inFlight: 1, waiting: 1 })
    a.finish()
    await first
    await tick()
    expect(started).toEqual(['a', 'c'])
    c.finish()
    expect(await third).toBe('c')
  })
})
