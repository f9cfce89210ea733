import { holdsAnyRole, missingClaims, missingRoles } from '../../src/domain/access'

const claims = {
  realm_access: { roles: ['staff', 'offline_access'] },
  resource_access: { 'keyward-web': { roles: ['editor'] }, 'orders-api': { roles: ['reader'] } },
  email: 'alice@example.com',
  email_verified: true,
  groups: ['/staff', '/berlin'],
  level: 2,
}

describe('role rules, as keycloak-connect named roles', () => {
  test('realm:, <client>: and the app client’s own role by its name alone', () => {
    expect(holdsAnyRole(claims, 'keyward-web', ['realm:staff'])).toBe(true)
    expect(holdsAnyRole(claims, 'keyward-web', ['editor'])).toBe(true)
    expect(holdsAnyRole(claims, 'keyward-other', ['editor'])).toBe(false)
    expect(holdsAnyRole(claims, 'keyward-web', ['orders-api:reader'])).toBe(true)
    expect(holdsAnyRole(claims, 'keyward-web', ['staff'])).toBe(false) // a realm role is named realm:staff
    expect(holdsAnyRole({}, 'keyward-web', ['realm:staff'])).toBe(false)
  })

  test('any of, all of: what is missing is named', () => {
    expect(missingRoles(claims, 'keyward-web', { anyOf: ['realm:admin', 'editor'] })).toBeUndefined()
    expect(missingRoles(claims, 'keyward-web', { anyOf: ['realm:admin'] })).toBe('The role realm:admin is required.')
    expect(missingRoles(claims, 'keyward-web', { anyOf: ['realm:admin', 'realm:ops'] })).toBe(
      'One of the roles realm:admin, realm:ops is required.',
    )
    expect(missingRoles(claims, 'keyward-web', { allOf: ['realm:staff', 'editor'] })).toBeUndefined()
    expect(missingRoles(claims, 'keyward-web', { allOf: ['realm:staff', 'realm:admin', 'x:y'] })).toBe(
      'The roles realm:admin, x:y are required.',
    )
  })
})

describe('claim rules', () => {
  test('a value, a value a list claim holds, all of a list, any of a list, a suffix', () => {
    expect(missingClaims(claims, { email_verified: true, groups: '/staff', level: 2 })).toBeUndefined()
    expect(missingClaims(claims, { groups: ['/staff', '/berlin'] })).toBeUndefined()
    expect(missingClaims(claims, { groups: { anyOf: ['/ops', '/berlin'] } })).toBeUndefined()
    expect(missingClaims(claims, { email: { endsWith: '@example.com' } })).toBeUndefined()
  })

  test('the first claim that fails is named with what it must be', () => {
    expect(missingClaims(claims, { email_verified: false })).toBe('The claim email_verified must be false.')
    expect(missingClaims(claims, { groups: ['/staff', '/ops'] })).toBe('The claim groups must hold "/staff", "/ops".')
    expect(missingClaims(claims, { groups: { anyOf: ['/ops'] } })).toBe('The claim groups must hold one of "/ops".')
    expect(missingClaims(claims, { email: { endsWith: '@corp.example' } })).toBe(
      'The claim email must end with "@corp.example".',
    )
    // A claim that is missing, or of another type, never passes.
    expect(missingClaims(claims, { tenant: 'acme' })).toBe('The claim tenant must be "acme".')
    expect(missingClaims(claims, { level: '2' })).toBe('The claim level must be "2".')
    expect(missingClaims({ email: 42 }, { email: { endsWith: '2' } })).toMatch(/must end with/)
  })
})
