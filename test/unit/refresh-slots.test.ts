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
    const slots = refreshSlots({ max: 2, slowMs: 10_000 })
    const started: string[] = []
    const calls = ['a', 'b', 'c', 'd'].map((n) => pending(started, n))
    const settled = Promise.allSettled(calls.map((c) => slots.run(c.call, Date.now() + 10_000)))
    await tick()
    expect(started).toEqual(['a', 'b'])
    expect(slots.load()).toEqual({ inFlight: 2, waiting: 2, limit: 2 })
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
    expect(slots.load()).toEqual({ inFlight: 0, waiting: 0, limit: 2 })
  })

  test('a call that cannot have a slot by its deadline fails as keycloak_unavailable without being made; the line moves on', async () => {
    const slots = refreshSlots({ max: 1, slowMs: 10_000 })
    const started: string[] = []
    const [a, late, c] = ['a', 'late', 'c'].map((n) => pending(started, n))
    const first = slots.run(a.call, Date.now() + 10_000)
    const refused = slots.run(late.call, Date.now() + 20)
    const third = slots.run(c.call, Date.now() + 10_000)
    const err = await refused.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Failure)
    expect(err).toBeInstanceOf(NoRefreshSlot) // counted apart: the refresh outcome `no_slot`
    expect(err).toMatchObject({ kind: 'keycloak_unavailable' })
    expect(slots.load()).toEqual({ inFlight: 1, waiting: 1, limit: 1 })
    a.finish()
    await first
    await tick()
    expect(started).toEqual(['a', 'c'])
    c.finish()
    expect(await third).toBe('c')
  })

  test('slow answers halve the calls at once, once per round; quick answers bring them back one a round', async () => {
    let clock = 0
    const limits: number[] = []
    const slots = refreshSlots({ max: 8, slowMs: 1000, onLimit: (l) => limits.push(l) }, () => clock)
    const started: string[] = []
    const round = (names: string[]) => names.map((n) => pending(started, n))

    // Eight at Keycloak, two waiting; all eight answer slowly: one cut to 4, not eight cuts.
    const slow = round(['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 'w1', 'w2'])
    const runs = slow.map((c) => slots.run(c.call, 1_000_000))
    await tick()
    clock = 1500
    for (const c of slow.slice(0, 8)) c.finish()
    await tick()
    expect(limits).toEqual([4])
    expect(slots.load()).toMatchObject({ inFlight: 2, limit: 4 }) // the two waiting went in, under the new limit

    // A slow answer to a call sent after the cut cuts again.
    clock = 3000
    slow[8].finish()
    await tick()
    expect(limits).toEqual([4, 2])

    // Quick answers: about one more a round, up to the most allowed.
    clock = 3100
    slow[9].finish()
    await Promise.all(runs)
    for (let i = 0; i < 40; i++) {
      const quick = pending(started, `q${i}`)
      const run = slots.run(quick.call, 1_000_000)
      await tick()
      clock += 10
      quick.finish()
      await run
    }
    expect(limits).toEqual([4, 2, 3, 4, 5, 6, 7, 8])
    expect(slots.load()).toEqual({ inFlight: 0, waiting: 0, limit: 8 })
  })
})
