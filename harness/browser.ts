import { parse } from 'node-html-parser'
import { CookieJar } from 'tough-cookie'

export interface Hop {
  url: string
  status: number
  headers: Headers
  text: string
}

/**
 * A test client that behaves like a browser where it matters here: a cookie jar, redirects followed
 * by hand (so each hop is visible), and Keycloak's real login form filled in and posted.
 * Every response is kept in `seen`, to check that no token ever reached the client.
 */
export class Browser {
  readonly seen: Hop[] = []

  /**
   * @param tlsProxy an https origin that a TLS-terminating proxy forwards to a plain-http one, adding
   *   X-Forwarded-Proto: https (and X-Forwarded-Host), so keyward can be tested with its production
   *   (Secure, __Host-) cookies.
   * @param jar another Browser's cookies, to be the same browser (reaching another instance, say)
   */
  constructor(
    private readonly tlsProxy?: { https: string; http: string },
    readonly jar = new CookieJar(),
  ) {}

  async request(url: string, init: RequestInit = {}): Promise<Hop> {
    const headers = new Headers(init.headers)
    const cookie = await this.jar.getCookieString(url)
    if (cookie) headers.set('cookie', cookie)
    let target = url
    if (this.tlsProxy && url.startsWith(this.tlsProxy.https)) {
      target = this.tlsProxy.http + url.slice(this.tlsProxy.https.length)
      headers.set('x-forwarded-proto', 'https')
      headers.set('x-forwarded-host', new URL(url).host)
    }
    const res = await fetch(target, { ...init, headers, redirect: 'manual' })
    for (const c of res.headers.getSetCookie()) await this.jar.setCookie(c, url, { ignoreError: true })
    const hop = { url, status: res.status, headers: res.headers, text: await res.text() }
    this.seen.push(hop)
    return hop
  }

  /**
   * GETs `url` and follows redirects until a non-redirect answer, or a redirect away from this
   * machine (an app's custom scheme, another host), which is left unfollowed; returns every hop.
   */
  async follow(url: string, init: RequestInit = {}, maxHops = 10): Promise<Hop[]> {
    const hops: Hop[] = []
    let next: string | undefined = url
    let options = init
    while (next && hops.length < maxHops) {
      const res = await this.request(next, options)
      hops.push(res)
      const location = res.headers.get('location')
      const target: URL | undefined =
        res.status >= 300 && res.status < 400 && location ? new URL(location, next) : undefined
      next =
        target && /^https?:$/.test(target.protocol) && ['127.0.0.1', 'localhost'].includes(target.hostname)
          ? target.href
          : undefined
      options = {}
    }
    return hops
  }

  /**
   * Logs in through keyward: /auth/login → Keycloak's login page → posts the credentials → callback
   * → back to returnTo. Returns the hops after the form was posted (or, when Keycloak signs the
   * browser in without a form, all of them). `beforeSubmit` runs once the login page is there, just
   * before the credentials go (to stage trouble for the callback). A client that requires consent (as
   * FAPI 2.0's client policies make it) gets it: the user accepts Keycloak's consent page.
   */
  async login(
    keywardUrl: string,
    username: string,
    password: string,
    loginPath = '/auth/login?returnTo=/welcome',
    options: { beforeSubmit?: () => Promise<void> } = {},
  ) {
    const toForm = await this.follow(`${keywardUrl}${loginPath}`)
    const page = toForm.at(-1)!
    const action =
      page.status === 200 ? parse(page.text).querySelector('form#kc-form-login')?.getAttribute('action') : undefined
    if (!action) {
      // Keycloak knew this browser already (single sign-on): it went straight back, without a form.
      if (toForm.some((h) => h.url.startsWith(`${keywardUrl}/auth/callback`))) return toForm
      throw new Error(`expected Keycloak's login page, got ${page.status} at ${page.url}`)
    }
    await options.beforeSubmit?.()
    const body = new URLSearchParams({ username, password, credentialId: '' })
    const posted = await this.request(new URL(action.replaceAll('&amp;', '&'), page.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
    const location = posted.headers.get('location')
    if (posted.status !== 302 || !location) throw new Error(`login form answered ${posted.status}`)
    const hops = [posted, ...(await this.follow(new URL(location, posted.url).href))]
    const consented = await this.consent(hops.at(-1)!)
    const next = consented?.headers.get('location')
    return consented && next ? [...hops, consented, ...(await this.follow(new URL(next, consented.url).href))] : hops
  }

  /** Accepts Keycloak's consent page, if `page` is one (Keycloak's answer); else nothing. */
  private async consent(page: Hop): Promise<Hop | undefined> {
    const form = parse(page.text)
      .querySelectorAll('form')
      .find((f) => f.querySelector('[name=accept]'))
    const action = form?.getAttribute('action')
    if (!form || !action) return undefined
    const body = new URLSearchParams({ accept: 'Yes' })
    for (const input of form.querySelectorAll('input[type=hidden]')) {
      body.set(input.getAttribute('name')!, input.getAttribute('value') ?? '')
    }
    return this.request(new URL(action.replaceAll('&amp;', '&'), page.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
  }

  /** Drops keyward's cookies for `origin` (its session, its login binding), keeping Keycloak's SSO session. */
  async forgetKeywardCookies(origin: string): Promise<void> {
    const { hostname } = new URL(origin)
    for (const c of await this.jar.getCookies(origin, { allPaths: true })) {
      // Keycloak's cookies share the host (cookies ignore ports); they live under /realms/.
      if (c.domain === hostname && !c.path?.startsWith('/realms/')) {
        await this.jar.store.removeCookie(c.domain, c.path, c.key)
      }
    }
  }

  /** Drops Keycloak's own cookies (its SSO session in this browser), keeping keyward's. */
  async forgetKeycloakLogin(keycloakBase: string): Promise<void> {
    for (const c of await this.jar.getCookies(`${keycloakBase}/realms/`, { allPaths: true })) {
      if (c.path?.startsWith('/realms/')) await this.jar.store.removeCookie(c.domain, c.path, c.key)
    }
  }

  /** What every keyward response (status line aside) carried: headers, cookies and bodies. */
  transcriptFor(origin: string): string {
    return this.seen
      .filter((s) => s.url.startsWith(origin))
      .map((s) => `${s.url}\n${[...s.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${s.text}`)
      .join('\n----\n')
  }
}
