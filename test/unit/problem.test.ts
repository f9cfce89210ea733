import type { ServerResponse } from 'node:http'
import { KeywardError, sendProblem } from '../../src/http/problem'

/** What sendProblem wrote: status, headers, and the parsed body. */
function written(problem: KeywardError) {
  const headers: Record<string, string> = {}
  let body = ''
  const res = {
    statusCode: 0,
    setHeader: (name: string, value: unknown) => (headers[name.toLowerCase()] = String(value)),
    end: (text: string) => (body = text),
  }
  sendProblem(res as unknown as ServerResponse, problem)
  return { status: res.statusCode, headers, body: JSON.parse(body) as Record<string, unknown> }
}

describe('problem+json answers', () => {
  test('carry the stable code for programs, a title for people, and the detail', () => {
    const answer = written(new KeywardError('not_authenticated', 'Log in first.'))
    expect(answer.status).toBe(401)
    expect(answer.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(answer.body).toEqual({
      type: 'https://github.com/keyward/keyward/blob/main/docs/routes.md#problem-not_authenticated',
      title: 'You are not logged in',
      status: 401,
      code: 'not_authenticated',
      detail: 'Log in first.',
    })
  })

  test('a page may show the title as it is: a sentence, not the code spelled out', () => {
    for (const code of ['handoff_not_allowed', 'store_unavailable', 'session_expired'] as const) {
      const { title } = written(new KeywardError(code, 'x')).body as { title: string }
      expect(title).toMatch(/^[A-Z]/)
      expect(title.toLowerCase()).not.toBe(code.replaceAll('_', ' '))
    }
    expect(written(new KeywardError('store_unavailable', 'x', { retryAfterSeconds: 2 })).headers['retry-after']).toBe(
      '2',
    )
  })
})
