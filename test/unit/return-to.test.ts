import { KeywardError } from '../../src/http/problem'
import { safeReturnTo } from '../../src/http/return-to'

const app = new URL('https://app.example.com')

describe('safeReturnTo keeps redirects on the app origin', () => {
  test.each([
    [undefined, '/'],
    ['', '/'],
    ['/', '/'],
    ['/orders?page=2#top', '/orders?page=2#top'],
    ['/a/../b', '/b'],
    ['https://app.example.com/settings', '/settings'],
    ['HTTPS://APP.EXAMPLE.COM/x', '/x'],
  ])('%p → %p', (input, expected) => {
    expect(safeReturnTo(input, app)).toBe(expected)
  })

  test('a fallback stands in for a missing value', () => {
    expect(safeReturnTo(undefined, app, '/bye')).toBe('/bye')
  })

  test.each([
    'https://evil.example.com/',
    'https://app.example.com.evil.com/',
    'http://app.example.com/', // another scheme is another origin
    '//evil.example.com',
    '///evil.example.com',
    '/\\evil.example.com',
    '/.//evil.example.com/x', // normalises to //evil.example.com/x
    '/a/..//evil.example.com',
    '/%2e//evil.example.com',
    'https://app.example.com/.//evil.example.com',
    '\\\\evil.example.com',
    'javascript:alert(1)',
    'data:text/html,hi',
    'orders',
    '/ok\r\nSet-Cookie: x=1',
    '/tab\there',
    `/${'a'.repeat(2048)}`,
    ['/a', '/b'],
    { path: '/' },
  ])('%p is refused', (input) => {
    expect(() => safeReturnTo(input, app)).toThrow(KeywardError)
    try {
      safeReturnTo(input, app)
    } catch (err) {
      expect((err as KeywardError).code).toBe('invalid_return_to')
      expect((err as KeywardError).status).toBe(400)
    }
  })
})
