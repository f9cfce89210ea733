import { deviceLabel } from '../../src/http/device-label'

describe('deviceLabel', () => {
  test.each([
    ['Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0', 'Firefox on Linux'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0',
      'Edge on Windows',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15',
      'Safari on macOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1',
      'Safari on iOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36',
      'Chrome on Android',
    ],
    ['okhttp/4.12.0', 'okhttp/4.12.0'],
    [undefined, 'unknown device'],
  ])('%p → %p', (ua, label) => {
    expect(deviceLabel(ua)).toBe(label)
  })

  test('an unknown agent is cut to 64 printable characters', () => {
    expect(deviceLabel(`x\u0000${'y'.repeat(100)}`)).toBe(`x${'y'.repeat(63)}`)
  })
})
