import { createLogger } from '../../src/log'
import { sessionWatch } from '../../src/sessions/session-watch'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('sessionWatch', () => {
  test('a session found gone calls each of its watchers once; live ones and unwatched ones are left alone', async () => {
    const live = new Set(['a', 'b'])
    const asked: string[][] = []
    const watch = sessionWatch({
      existing: async (ids) => (asked.push([...ids]), new Set(ids.filter((id) => live.has(id)))),
      intervalMs: 20,
      log: createLogger('silent'),
    })
    const ended: string[] = []
    watch.watch('a', () => ended.push('a1'))
    watch.watch('a', () => ended.push('a2'))
    const stopB = watch.watch('b', () => ended.push('b'))
    await sleep(50)
    expect(ended).toEqual([])
    expect(asked.at(-1)).toEqual(['a', 'b']) // one question for both sessions
    stopB()
    live.clear()
    await sleep(60)
    expect(ended).toEqual(['a1', 'a2'])
    expect(watch.size).toBe(0)
    const questions = asked.length
    await sleep(60)
    expect(asked.length).toBe(questions) // nothing watched, nothing asked
    watch.stop()
  })

  test('while Redis cannot answer, nothing is called an end; the next answer decides', async () => {
    let failing = true
    const watch = sessionWatch({
      existing: async () => {
        if (failing) throw new Error('Redis away')
        return new Set<string>()
      },
      intervalMs: 20,
      log: createLogger('silent'),
    })
    let ended = 0
    watch.watch('a', () => ended++)
    await sleep(80)
    expect(ended).toBe(0)
    failing = false
    await sleep(50)
    expect(ended).toBe(1)
    watch.stop()
  })
})
