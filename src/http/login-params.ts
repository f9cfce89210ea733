import type { LoginParamRules } from '../config/types'
import { KeywardError } from './problem'

/** What a login asks Keycloak for beyond keyward's own parameters, each checked (see `loginParams`). */
export interface LoginParams {
  /** Authorization request parameters, by their OIDC names (`prompt`, `login_hint`, …). */
  params: Record<string, string>
  /** Scopes added to the app's own. */
  scopes: string[]
}

/** The parameters `loginParams` reads, by their names in `GET <authPath>/login?…`. */
export const LOGIN_PARAM_NAMES = [
  'prompt',
  'login_hint',
  'kc_idp_hint',
  'ui_locales',
  'acr_values',
  'max_age',
  'scope',
] as const
export type LoginParamName = (typeof LOGIN_PARAM_NAMES)[number]

const invalid = (detail: string) => new KeywardError('invalid_request', detail)
const oneOf = (allowed: ReadonlySet<string>) => [...allowed].join(', ')

/** Space-separated values, each one of `allowed`. */
function words(name: string, value: string, allowed: ReadonlySet<string>): string {
  const given = value.split(' ')
  if (given.length > 10 || given.some((w) => !allowed.has(w))) {
    throw invalid(`${name} takes space-separated values among: ${oneOf(allowed)}.`)
  }
  return [...new Set(given)].join(' ')
}

/** Each parameter's rule: whether the app allows it, and its value as sent to Keycloak (or a refusal). */
const RULES: Record<
  LoginParamName,
  { allowed: (r: LoginParamRules) => boolean; value: (v: string, r: LoginParamRules) => string }
> = {
  prompt: {
    allowed: (r) => r.prompts.size > 0,
    value: (v, r) => {
      if (!(r.prompts as ReadonlySet<string>).has(v)) throw invalid(`prompt must be one of: ${oneOf(r.prompts)}.`)
      return v
    },
  },
  login_hint: {
    allowed: (r) => r.loginHint,
    value: (v) => {
      // eslint-disable-next-line no-control-regex -- control characters are what is refused
      if (v.length > 255 || /[\u0000-\u001f\u007f]/.test(v)) {
        throw invalid('login_hint must be at most 255 characters, without control characters.')
      }
      return v
    },
  },
  kc_idp_hint: {
    allowed: (r) => r.idpHints.size > 0,
    value: (v, r) => {
      if (!r.idpHints.has(v)) throw invalid(`kc_idp_hint must be one of: ${oneOf(r.idpHints)}.`)
      return v
    },
  },
  ui_locales: { allowed: (r) => r.uiLocales.size > 0, value: (v, r) => words('ui_locales', v, r.uiLocales) },
  acr_values: { allowed: (r) => r.acrValues.size > 0, value: (v, r) => words('acr_values', v, r.acrValues) },
  max_age: {
    allowed: (r) => r.maxAge,
    value: (v) => {
      if (!/^\d{1,9}$/.test(v)) throw invalid('max_age must be a whole number of seconds, e.g. 300.')
      return String(Number(v))
    },
  },
  scope: { allowed: (r) => r.scopes.size > 0, value: (v, r) => words('scope', v, r.scopes) },
}

/**
 * The login parameters `get` gives (the query of `GET <authPath>/login`, or `kw.login()`'s options
 * under the same names), each checked against the app's `rules`: a parameter the app does not allow,
 * or a value outside its rule, is a 400 `invalid_request`; nothing unchecked reaches Keycloak. An
 * empty value counts as not given (a form's blank field).
 */
export function loginParams(get: (name: LoginParamName) => string | undefined, rules: LoginParamRules): LoginParams {
  const out: LoginParams = { params: {}, scopes: [] }
  for (const name of LOGIN_PARAM_NAMES) {
    const given = get(name)
    if (given === undefined || given === '') continue
    const rule = RULES[name]
    if (!rule.allowed(rules)) throw invalid(`${name} is not allowed for this application's logins.`)
    const value = rule.value(given, rules)
    if (name === 'scope') out.scopes = value.split(' ')
    else out.params[name] = value
  }
  return out
}
