import type { IncomingMessage } from 'node:http'
import { Writable } from 'node:stream'
import { createLogger } from '../../src/log'
import { logProblem, REFUSALS_LOGGED } from '../../src/http/middleware/error-handler'
import { KeywardError } from '../../src/http/problem'

describe('log lines of refused requests', () => {
  const req = { method: 'GET', url: '/api/orders/x?code=secret' } as IncomingMessage

  function logger() {
    const lines: Record<string, unknown>[] = []
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>)
        done()
      },
    })
    return { log: createLogger('info', sink), lines }
  }
  const flushed = () => new Promise((r) => setImmediate(r))

  test('a flood of refusals logs at most a window’s budget, then how many were left out; failures are always logged', async () => {
    const { log, lines } = logger()
    const startedAt = Date.now()
    jest.useFakeTimers({ now: startedAt, doNotFake: ['setImmediate'] })
    try {
      for (let i = 0; i < 5000; i++) logProblem(log, req, new KeywardError('not_authenticated', 'Not logged in.'))
      logProblem(log, req, new KeywardError('internal_error', 'Something went wrong inside keyward.'))
      await flushed()
      expect(lines.filter((l) => l.msg === 'request refused')).toHaveLength(REFUSALS_LOGGED.perWindow)
      expect(lines.filter((l) => l.msg === 'request failed')).toHaveLength(1)
      expect(lines[0].path).toBe('/api/orders/x') // never the query

      jest.setSystemTime(startedAt + REFUSALS_LOGGED.windowMs)
      logProblem(log, req, new KeywardError('not_authenticated', 'Not logged in.'))
      await flushed()
      expect(lines.find((l) => l.msg === 'refused requests not logged')).toMatchObject({
        dropped: 5000 - REFUSALS_LOGGED.perWindow,
      })
      expect(lines.at(-1)!.msg).toBe('request refused') // a new window, a new budget
    } finally {
      jest.useRealTimers()
    }
  })
})
