import { Writable } from 'node:stream'
import pino from 'pino'
import { childLogger } from '../../src/log'

describe("keyward's logger inside an application", () => {
  test("a child of the application's pino logger, with keyward's redaction added", async () => {
    const lines: string[] = []
    const parent = pino({ level: 'info' }, new Writable({ write: (c, _e, done) => done(void lines.push(String(c))) }))
    const log = childLogger(parent, 'info', { keyward: 'web' })
    log.info({ accessToken: 'a', headers: { cookie: 'c', authorization: 'b' }, session: { refreshToken: 'r' } }, 'x')
    await new Promise((r) => setImmediate(r))
    const line = JSON.parse(lines[0])
    expect(line).toMatchObject({
      keyward: 'web',
      accessToken: '[redacted]',
      headers: { cookie: '[redacted]', authorization: '[redacted]' },
      session: { refreshToken: '[redacted]' },
    })
    // The application's own lines are its own business.
    parent.info({ accessToken: 'app-owned' }, 'y')
    await new Promise((r) => setImmediate(r))
    expect(JSON.parse(lines[1]).accessToken).toBe('app-owned')
  })
})
