import { randomBytes } from 'node:crypto'
import { s256 } from '../src/domain/opaque'
import { Browser } from './browser'

export const APP_URI = 'com.example.keyward:/oauth'
export const OTHER_APP_URI = 'https://app.example.test/mobile'
export const MOBILE = { MOBILE_REDIRECT_URIS: `${APP_URI},${OTHER_APP_URI}` }

/**
 * A mobile app the way it uses keyward: its own PKCE pair, the login in a system browser, the
 * one-time code read off the redirect to its URI, and `Authorization: Bearer <session_token>` after.
 */
export class MobileApp {
  readonly verifier = randomBytes(48).toString('base64url')
  /** @param browser the system browser the login runs in (one that may already hold a Keycloak session) */
  constructor(
    readonly keyward: string,
    readonly browser = new Browser(),
  ) {}

  get challenge(): string {
    return s256(this.verifier)
  }

  loginPath(options: { offline?: boolean; state?: string; redirectUri?: string } = {}): string {
    const q = new URLSearchParams({
      client: 'mobile',
      redirect_uri: options.redirectUri ?? APP_URI,
      code_challenge: this.challenge,
      code_challenge_method: 'S256',
      ...(options.state ? { state: options.state } : {}),
      ...(options.offline ? { offline: '1' } : {}),
    })
    return `/auth/login?${q}`
  }

  /** Logs in through the system browser; returns the redirect to the app's URI, as the app sees it. */
  async authorize(
    username: string,
    options: { offline?: boolean; state?: string; beforeSubmit?: () => Promise<void> } = {},
  ): Promise<URL> {
    const hops = await this.browser.login(
      this.keyward,
      username,
      `${username}-password`,
      this.loginPath(options),
      options,
    )
    const last = hops.at(-1)!
    return new URL(last.headers.get('location')!)
  }

  async exchange(body: Record<string, string>): Promise<Response> {
    return fetch(`${this.keyward}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  }

  /** The whole flow: a session token for `username`. */
  async signIn(username: string, options: { offline?: boolean; device?: string } = {}): Promise<string> {
    const back = await this.authorize(username, options)
    const res = await this.exchange({
      code: back.searchParams.get('code')!,
      code_verifier: this.verifier,
      redirect_uri: APP_URI,
      ...(options.device ? { device_name: options.device } : {}),
    })
    if (res.status !== 200) throw new Error(`POST /auth/token answered ${res.status}: ${await res.text()}`)
    return ((await res.json()) as { session_token: string }).session_token
  }
}

export const bearer = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  ...extra,
})
