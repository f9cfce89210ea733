import { clientAddressKey } from '../../src/http/rate-limit'

describe('clientAddressKey: what the login rate limit counts by', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'], // IPv4 reaching an IPv6 socket
    ['2001:db8:aa:bb:1:2:3:4', '2001:db8:aa:bb::/64'],
    ['2001:db8:aa:bb::9', '2001:db8:aa:bb::/64'], // same network, another host address: same count
    ['2001:db8:aa:bc::9', '2001:db8:aa:bc::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, 'unknown'],
    ['not an address', 'unknown'],
  ])('%p → %p', (ip, key) => {
    expect(clientAddressKey(ip)).toBe(key)
  })
})
