import { loadConfig } from '../../src/config/load'
import type { LoginParamRules } from '../../src/config/types'
import { loginParams, type LoginParamName } from '../../src/http/login-params'
import { KeywardError } from '../../src/http/problem'
import { problemsWith, productionEnv } from '../support/server-env'

const NOTHING: LoginParamRules = {
  prompts: new Set(),
  loginHint: false,
  idpHints: new Set(),
  uiLocales: new Set(),
  acrValues: new Set(),
  maxAge: false,
  scopes: new Set(),
}
const ALL: LoginParamRules = {
  prompts: new Set(['login', 'none']),
  loginHint: true,
  idpHints: new Set(['google']),
  uiLocales: new Set(['en', 'de']),
  acrValues: new Set(['silver', 'gold']),
  maxAge: true,
  scopes: new Set(['phone', 'orders:read']),
}

const check = (query: Partial<Record<LoginParamName, string>>, rules = ALL) => loginParams((name) => query[name], rules)

/** The 400's detail, or 'allowed'. */
function refusal(query: Partial<Record<LoginParamName, string>>, rules = ALL): string {
  try {
    check(query, rules)
    return 'allowed'
  } catch (err) {
    expect(err).toBeInstanceOf(KeywardError)
    expect((err as KeywardError).code).toBe('invalid_request')
    return (err as KeywardError).detail
  }
}

describe('a login’s parameters, each allowed by the app’s configuration', () => {
  test('nothing is allowed unless configured: each parameter is refused, naming it', () => {
    for (const [name, value] of Object.entries({
      prompt: 'login',
      login_hint: 'alice',
      kc_idp_hint: 'google',
      ui_locales: 'en',
      acr_values: 'gold',
      max_age: '60',
      scope: 'phone',
    })) {
      expect(refusal({ [name]: value }, NOTHING)).toBe(`${name} is not allowed for this application's logins.`)
    }
    expect(check({}, NOTHING)).toEqual({ params: {}, scopes: [] })
  })

  test('allowed values go to Keycloak by their OIDC names; scopes apart', () => {
    expect(
      check({
        prompt: 'none',
        login_hint: 'alice@example.com',
        kc_idp_hint: 'google',
        ui_locales: 'de en',
        acr_values: 'gold',
        max_age: '0300',
        scope: 'orders:read phone orders:read',
      }),
    ).toEqual({
      params: {
        prompt: 'none',
        login_hint: 'alice@example.com',
        kc_idp_hint: 'google',
        ui_locales: 'de en',
        acr_values: 'gold',
        max_age: '300',
      },
      scopes: ['orders:read', 'phone'],
    })
  })

  test('a value outside its rule is refused, saying what is allowed', () => {
    expect(refusal({ prompt: 'consent' })).toBe('prompt must be one of: login, none.')
    expect(refusal({ prompt: 'login none' })).toBe('prompt must be one of: login, none.')
    expect(refusal({ kc_idp_hint: 'evil' })).toBe('kc_idp_hint must be one of: google.')
    expect(refusal({ ui_locales: 'en fr' })).toBe('ui_locales takes space-separated values among: en, de.')
    expect(refusal({ acr_values: 'gold  silver' })).toMatch(/^acr_values takes/)
    expect(refusal({ scope: 'openid' })).toMatch(/^scope takes space-separated values among: phone, orders:read/)
    expect(refusal({ scope: 'offline_access' })).toMatch(/^scope takes/)
    for (const age of ['-1', '1.5', '1e3', ' 5', '1234567890', 'x']) {
      expect(refusal({ max_age: age })).toBe('max_age must be a whole number of seconds, e.g. 300.')
    }
    expect(refusal({ login_hint: 'a'.repeat(256) })).toMatch(/^login_hint must be at most 255 characters/)
    expect(refusal({ login_hint: 'alice\r\nx' })).toMatch(/^login_hint must be/)
    expect(refusal({ login_hint: 'a'.repeat(255) })).toBe('allowed')
  })

  test('an empty value counts as not given (a blank form field)', () => {
    expect(check({ login_hint: '', prompt: '' }, NOTHING)).toEqual({ params: {}, scopes: [] })
  })
})

describe('the login option, as each configuration spells it', () => {
  const env = productionEnv

  test('LOGIN_* variables set the rules; none are allowed by default', () => {
    expect(loadConfig(env).apps[0].login).toEqual(NOTHING)
    const { login } = loadConfig({
      ...env,
      LOGIN_PROMPTS: 'login,none',
      LOGIN_HINT: 'true',
      LOGIN_IDP_HINTS: 'google',
      LOGIN_UI_LOCALES: 'en,de',
      LOGIN_ACR_VALUES: 'silver,gold',
      LOGIN_MAX_AGE: 'true',
      LOGIN_SCOPES: 'phone,orders:read',
    }).apps[0]
    expect(login).toEqual(ALL)
  })

  test('a wrong rule names its variable and a right value', () => {
    const problems = problemsWith
    expect(problems({ LOGIN_PROMPTS: 'login,select_account' })).toEqual([
      'LOGIN_PROMPTS: prompts among login, none, consent, create (got "login,select_account")',
    ])
    expect(problems({ LOGIN_SCOPES: 'phone,offline_access' })[0]).toMatch(
      /^LOGIN_SCOPES: scopes other than openid and offline_access/,
    )
    expect(problems({ LOGIN_UI_LOCALES: 'en,<script>' })[0]).toMatch(/^LOGIN_UI_LOCALES: language tags/)
    expect(problems({ LOGIN_HINT: 'yes' })[0]).toMatch(/^LOGIN_HINT: use true or false/)
  })
})
