import { join } from 'node:path'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { launchChromium, observe, screenshot } from '../../harness/chromium'
import { totpCode } from '../../harness/otp'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, waitUntil } from '../../harness/keyward'
import { watchKeyward } from '../../harness/leaks'
import { spawnTracked, type TrackedProcess } from '../../harness/processes'
import { freePort, RedisServer } from '../../harness/redis-server'
import { tempDir } from '../../harness/temp-dir'

const admin = new KeycloakAdmin('keyward-demo')
const ACCESS_TOKEN_LIFESPAN_MS = 30_000 // keycloak/keyward-demo-realm.json

/**
 * The README's first command, `npm run demo` (scripts/demo.sh), on free ports, driven by a person's
 * browser: Debian's Chromium through playwright-core, headless. Its tests run in order, as one visit:
 * alice logs in on App A (its live counter ticking over a WebSocket), watches a refresh, is handed to
 * App B, logs in on a second device and revokes it, logs out on A (B too, its WebSocket closed), comes
 * back "remembered", uses the mobile page; then Ctrl-C. Every browser context is checked at the end of
 * its test for tokens anywhere the browser saw, console errors, uncaught exceptions, CSP violations,
 * and failed answers other than /auth/session's 401s.
 */
describe('npm run demo, in Chromium', () => {
  let demo: TrackedProcess
  let redis: RedisServer
  let browser: Browser
  let port: number
  let apiPort: number
  let appA: string
  let appB: string
  type Visit = { context: BrowserContext; page: Page; seen: ReturnType<typeof observe>; refusals: string[] }
  let open: Visit[] = [] // the current test's browser contexts

  async function newContext(options?: Parameters<Browser['newContext']>[0]): Promise<Visit> {
    const context = await browser.newContext(options)
    const visit = { context, seen: observe(context, [appA, appB]), page: await context.newPage(), refusals: [] }
    open.push(visit)
    return visit
  }

  /**
   * The checks every context gets when it closes: what any page of the demo showed or kept. Asking
   * /auth/session while logged out is a 401 (a console error in Chromium); other refusals only where
   * the test provoked them (`refusals`: "<status> <path>").
   */
  async function checkAndClose({ context, seen, refusals }: Visit) {
    expect(await seen.tokensSeen()).toEqual([])
    expect(seen.problems).toEqual([])
    expect(seen.failedLoads.filter((f) => f !== '401 /auth/session')).toEqual(refusals)
    await context.close()
  }

  /** Keycloak's own login page, typed into as a person would. */
  async function typeLogin(page: Page, user = 'alice', password = `${user}-password`) {
    await page.waitForURL((url) => url.href.startsWith(`${keycloakUrl()}/realms/keyward-demo/`))
    await page.locator('#username').fill(user)
    await page.locator('#password').fill(password)
    await page.locator('#kc-login').click()
  }

  /** An element's text once it shows `expected`: the pages update themselves (answers, polls, countdowns). */
  async function textWhen(locator: Locator, expected: RegExp | string, timeoutMs = 10_000): Promise<string> {
    let text = ''
    const shows = () => (typeof expected === 'string' ? text === expected : expected.test(text))
    await waitUntil(async () => ((text = (await locator.textContent()) ?? ''), shows()), timeoutMs).catch(() => {
      throw new Error(`${String(locator)} shows ${JSON.stringify(text)}, not ${String(expected)}`)
    })
    return text
  }

  /** The page's "Log out", through Keycloak's end-session page, back to App A logged out. */
  async function logOut(page: Page) {
    const loggedOut = page.waitForResponse((r) => r.url() === `${appA}/auth/logout`)
    await page.locator('#logout').click()
    expect((await loggedOut).status()).toBe(200)
    // Keycloak may ask to confirm when logout carries no ID token hint (keyward keeps none).
    await page.waitForURL((url) => url.pathname.endsWith('/logout') || url.href === `${appA}/`)
    if (page.url() !== `${appA}/`) await page.locator('#kc-logout').click()
    await page.waitForURL(`${appA}/`)
    await page.locator('#anonymous').waitFor()
  }

  /** The Keycloak URLs a context requested or showed since its `from`-th URL. */
  const keycloakVisits = ({ seen }: Visit, from: number) =>
    seen.urls.slice(from).filter((url) => url.startsWith(keycloakUrl()))

  const refreshEvents = async (since: number) =>
    (await admin.events('alice', 'REFRESH_TOKEN')).filter((e) => e.time >= since)

  beforeAll(async () => {
    port = await freePort()
    const redisPort = await freePort()
    apiPort = await freePort()
    appA = `http://app-a.localhost:${port}`
    appB = `http://app-b.localhost:${port}`
    const demoDir = tempDir('demo')
    redis = new RedisServer(redisPort, demoDir) // the demo's own, with its pidfile in demoDir
    demo = spawnTracked('bash', ['scripts/demo.sh'], {
      cwd: join(__dirname, '../..'),
      env: {
        HOME: process.env.HOME,
        PORT: String(port),
        DEMO_REDIS_PORT: String(redisPort),
        DEMO_API_PORT: String(apiPort),
        KEYWARD_DEMO_DIR: demoDir,
        KEYCLOAK_URL: keycloakUrl(),
      },
      label: `npm run demo on port ${port}`,
    })
    watchKeyward(port, demo.output)
    await waitUntil(
      async () => demo.output().includes('Ctrl-C stops') && (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
      90_000,
      250,
    )
    redis.adopt()
    // Keycloak outlives the demo: online sessions an earlier run left end first (offline ones are
    // counted from what is there: this logout leaves them alone).
    for (const user of ['alice', 'bob']) await admin.call('POST', `/users/${await admin.userId(user)}/logout`)
    // …and alice's second factor an earlier run enrolled goes, so the step-up sets one up again.
    const aliceId = await admin.userId('alice')
    for (const c of await admin.call<{ id: string; type: string }[]>('GET', `/users/${aliceId}/credentials`)) {
      if (c.type === 'otp') await admin.call('DELETE', `/users/${aliceId}/credentials/${c.id}`)
    }
    browser = await launchChromium()
  }, 120_000)

  afterEach(async () => {
    for (const visit of open.splice(0)) await checkAndClose(visit)
  })

  afterAll(async () => {
    await browser?.close()
    await demo?.kill()
    await redis?.stop()
  })

  test('prints where the apps are and who may log in', () => {
    expect(demo.output()).toContain(`App A:                 ${appA}`)
    expect(demo.output()).toContain(`App B:                 ${appB}`)
    expect(demo.output()).toContain(`${appA}/mobile.html`)
    expect(demo.output()).toContain('log in as alice / alice-password')
    // keyward's setup pointed the demo clients' back-channel logout at this port, and the doctor agrees.
    expect(demo.output()).toContain('doctor: no problems')
  })

  test('http://localhost:PORT, the address people type, links the two apps; its API answers 421 as before', async () => {
    const visit = await newContext()
    await visit.page.goto(`http://localhost:${port}/`)
    expect(await visit.page.locator('a').allInnerTexts()).toEqual(['app-a', 'app-b'])
    await visit.page.getByRole('link', { name: 'app-a' }).click()
    await visit.page.waitForURL(`${appA}/`)
    await visit.page.locator('#anonymous').waitFor()
    const api = await fetch(`http://localhost:${port}/auth/session`)
    expect(api.status).toBe(421)
  })

  let first: Visit // alice's first browser: from her login to her logout, over four tests

  test("alice types her password on Keycloak's page, calls the API, and past the access token's life calls again: one refresh, no login", async () => {
    first = await newContext()
    open = [] // it lives on into the next tests; the logout test checks and closes it
    const { page } = first
    const since = Date.now()
    await page.goto(`${appA}/`)
    await page.locator('#anonymous').waitFor()
    await page.getByRole('link', { name: 'Log in with Keycloak' }).click()
    await typeLogin(page)
    await page.waitForURL(`${appA}/`)
    await page.locator('#authenticated').waitFor()
    expect(await page.locator('#name').textContent()).toBe('Alice Anders')
    expect(await page.locator('#app').textContent()).toBe('App A')
    // The live counter: a WebSocket through keyward (the cookie, the page's origin) to the demo API's
    // /live (alice's access token), which counts once a second.
    await page.waitForFunction(() => Number(document.getElementById('live-count')!.textContent) >= 2, undefined, {
      timeout: 10_000,
    })
    expect(await page.locator('#live-status').textContent()).toBe('connected')
    await screenshot(page, 'demo-01-app-a-logged-in')

    await page.locator('#call').click()
    await textWhen(page.locator('#api'), /^200\n/)
    const answer = JSON.parse((await page.locator('#api').textContent())!.replace(/^200\n/, ''))
    expect(answer).toMatchObject({ message: 'Hello, Alice!', user: 'alice', client: 'demo-app-a' })
    await screenshot(page, 'demo-02-api-call')

    // The countdown runs out on the page (it asks /auth/session, which never refreshes)…
    const { accessTokenExpiresAt } = await page.evaluate(() => fetch('/auth/session').then((r) => r.json()))
    expect(Date.parse(accessTokenExpiresAt) - Date.now()).toBeLessThanOrEqual(ACCESS_TOKEN_LIFESPAN_MS)
    await page.waitForFunction(
      () => document.getElementById('access-left')!.textContent.startsWith('expired'),
      undefined,
      { timeout: ACCESS_TOKEN_LIFESPAN_MS + 5_000 },
    )
    expect(await refreshEvents(since)).toEqual([])
    await screenshot(page, 'demo-03-access-token-expired')

    // …and the next call is answered with a refreshed token, without a login prompt.
    const before = { pages: first.context.pages().length, urls: first.seen.urls.length }
    await page.locator('#call').click()
    await textWhen(page.locator('#refreshed'), /^Refreshed at .* \(1 refresh seen by this page\)\.$/)
    expect(await page.locator('#api').textContent()).toMatch(/^200\n/)
    expect(page.url()).toBe(`${appA}/`)
    expect(first.context.pages()).toHaveLength(before.pages)
    expect(keycloakVisits(first, before.urls)).toEqual([])
    expect(await page.locator('#access-left').textContent()).toMatch(/^\d+ s left$/)
    const refreshes = await refreshEvents(since)
    expect(refreshes.map((e) => e.clientId)).toEqual(['demo-app-a'])
    await screenshot(page, 'demo-04-refreshed')
  }, 90_000)

  test("'Open App B' hands the session over: logged in on B without a prompt, with B's own cookie on B's host only", async () => {
    const { page, context } = first
    const from = first.seen.urls.length
    await page.locator('#handoff').click()
    await page.waitForURL(`${appB}/`)
    await page.locator('#authenticated').waitFor()
    expect(await page.locator('#app').textContent()).toBe('App B')
    expect(keycloakVisits(first, from)).toEqual([]) // no login page, not even a redirect through Keycloak
    await page.locator('#call').click()
    await textWhen(page.locator('#api'), /^200\n/)
    expect(await page.locator('#api').textContent()).toContain('"client": "demo-app-b"') // B's own token
    await screenshot(page, 'demo-05-app-b-handed-over')

    const keyward = (await context.storageState()).cookies.filter((c) => c.name === 'keyward')
    // Host-only cookies (no Domain attribute), one per app, each sent to its own host alone.
    expect(keyward.map((c) => c.domain).sort()).toEqual(['app-a.localhost', 'app-b.localhost'])
    expect(keyward.every((c) => c.httpOnly && c.sameSite === 'Lax')).toBe(true)
    expect(keyward[0].value).not.toBe(keyward[1].value)
    // One Keycloak session holds both clients: the handoff exchanged tokens within it.
    const sessions = await admin.userSessions('alice')
    expect(sessions).toHaveLength(1)
    expect(Object.values(sessions[0].clients).sort()).toEqual(['demo-app-a', 'demo-app-b'])
  }, 30_000)

  test('"my sessions" lists the other device, and its Revoke button ends it at Keycloak', async () => {
    const other = await newContext()
    await other.page.goto(`${appA}/`)
    await other.page.getByRole('link', { name: 'Log in with Keycloak' }).click()
    await typeLogin(other.page)
    await other.page.locator('#authenticated').waitFor()
    expect(await admin.userSessions('alice')).toHaveLength(2)

    const { page } = first
    await page.goto(`${appA}/`)
    const rows = page.locator('#sessions tr')
    await waitUntil(async () => (await rows.count()) === 3, 10_000, 100, 'three sessions listed')
    // app, kind, device, started, last used (times left out), action
    const listed = (await rows.allInnerTexts()).map((row) => row.split('\t').toSpliced(3, 2, '…').join('\t'))
    expect(listed.sort()).toEqual([
      'App A\tonline\tChrome on Linux\t…\tRevoke', // the other device
      'App A\tonline\tChrome on Linux\t…\tthis session',
      'App B\tonline\tChrome on Linux\t…\tRevoke', // handed over
    ])
    await screenshot(page, 'demo-06-my-sessions')
    await rows
      .filter({ hasText: /^App A/ })
      .getByRole('button', { name: 'Revoke' })
      .click()
    await waitUntil(async () => (await rows.count()) === 2, 10_000, 100, 'two sessions listed')
    expect(await admin.userSessions('alice')).toHaveLength(1)
    // The other device finds out on its next look at /auth/session.
    await textWhen(other.page.locator('#anonymous-text'), 'Your session has ended.')
    await screenshot(other.page, 'demo-07-revoked-device')
  }, 60_000)

  test("the level-2 API asks for a step-up: Keycloak's one-time-code setup, then the same session calls it", async () => {
    const { page, context } = first
    await page.goto(`${appA}/`)
    await textWhen(page.locator('#level'), 'level silver')
    expect(await page.locator('#step-up').isHidden()).toBe(true)
    await page.locator('#call-gold').click()
    await page.locator('#step-up').waitFor()
    first.refusals.push('401 /api/gold/hello')
    expect(await page.locator('#error-title').textContent()).toBe('A stronger authentication is needed')
    const cookie = async () => (await context.cookies(appA)).find((c) => c.name === 'keyward')!.value
    const before = await cookie()
    await page.locator('#step-up').click()
    // Keycloak knows the password (its SSO cookie) and sets up the second factor: "Unable to scan?"
    // shows the secret as text, which an authenticator app would take.
    await page.waitForURL((url) => url.href.startsWith(`${keycloakUrl()}/realms/keyward-demo/`))
    await page.locator('#mode-manual').click()
    const secret = (await page.locator('#kc-totp-secret-key').textContent())!.replace(/\s/g, '')
    await page.locator('#totp').fill(totpCode(secret))
    await page.locator('#saveTOTPBtn').click()
    await page.waitForURL(`${appA}/`)
    await textWhen(page.locator('#level'), 'level gold')
    await page.locator('#call-gold').click()
    await textWhen(page.locator('#gold'), /^200\n/)
    expect(JSON.parse((await page.locator('#gold').textContent())!.replace(/^200\n/, ''))).toMatchObject({
      user: 'alice',
      acr: 'gold',
    })
    expect(await page.locator('#step-up').isHidden()).toBe(true)
    expect(await cookie()).toBe(before) // the same session, raised in place
    await screenshot(page, 'demo-07b-stepped-up')
  }, 60_000)

  test('logging out on App A logs App B out too: Keycloak tells B by back-channel logout', async () => {
    const { page, context } = first
    open.push(first)
    const onB = await context.newPage()
    await onB.goto(`${appB}/`)
    await onB.locator('#authenticated').waitFor()
    await textWhen(onB.locator('#live-status'), 'connected')

    await logOut(page)
    expect(await admin.userSessions('alice')).toEqual([])
    await waitUntil(() => /"client":"demo-app-b".*"msg":"back-channel logout"/.test(demo.output()), 10_000)
    // B's page stayed (A's left for Keycloak's logout): keyward closed its live counter's WebSocket
    // when the back-channel logout ended B's session, the page's poll or not.
    await textWhen(onB.locator('#live-status'), 'closed (4001 session ended)', 5_000)

    await textWhen(onB.locator('#anonymous-text'), 'Your session has ended.')
    await screenshot(onB, 'demo-08-app-b-logged-out')
  }, 60_000)

  test('"Remember me": a new browser context with the stored cookies is still logged in, offline', async () => {
    const offlineIds = async () => (await admin.offlineSessions('alice', 'demo-app-a')).map((s) => s.id).sort()
    const offlineBefore = await offlineIds()
    const { context, page } = await newContext()
    await page.goto(`${appA}/`)
    await page.locator('#remember').check()
    await page.getByRole('link', { name: 'Log in with Keycloak' }).click()
    await typeLogin(page)
    await page.locator('#authenticated').waitFor()
    expect(await page.locator('#kind').textContent()).toBe('remembered (offline)')
    const stored = await context.storageState()
    const cookie = stored.cookies.find((c) => c.name === 'keyward')!
    expect(cookie.expires * 1000).toBeGreaterThan(Date.now() + 7 * 86_400_000) // it outlives the browser
    expect((await offlineIds()).filter((id) => !offlineBefore.includes(id))).toHaveLength(1) // this login's
    await checkAndClose(open.shift()!) // the browser closes

    const later = await newContext({ storageState: stored })
    later.refusals.push('403 /auth/handoff')
    await later.page.goto(`${appA}/`)
    await later.page.locator('#authenticated').waitFor()
    expect(await later.page.locator('#kind').textContent()).toBe('remembered (offline)')
    // An offline session cannot be exchanged: the page shows keyward's problem title, not JSON.
    await later.page.locator('#handoff').click()
    await later.page.locator('#error').waitFor()
    expect(await later.page.locator('#error-title').textContent()).toBe('This session cannot be handed to that app')
    expect(await later.page.locator('#error').textContent()).not.toContain('{')
    await screenshot(later.page, 'demo-09-remembered-and-an-error')

    await logOut(later.page)
    expect(await offlineIds()).toEqual(offlineBefore)
  }, 60_000)

  test('the simulated mobile app signs in through the browser, holds only a handle, calls the API and signs out', async () => {
    const { page } = await newContext()
    await page.goto(`${appA}/mobile.html`)
    await page.locator('#sign-in').click()
    await typeLogin(page, 'bob')
    await page.waitForURL(`${appA}/mobile.html`) // the code is gone from the address once redeemed
    await page.locator('#signed-in').waitFor()
    expect(await page.locator('#name').textContent()).toBe('Bob Berg')
    expect(await page.evaluate(() => sessionStorage.getItem('demo-mobile-handle'))).toMatch(/^kw_/)
    await page.locator('#call').click()
    await textWhen(page.locator('#api'), /^200\n/)
    expect(await page.locator('#api').textContent()).toContain('"user": "bob"')
    await screenshot(page, 'demo-10-mobile')
    expect(await admin.userSessions('bob')).toHaveLength(1)

    await page.locator('#sign-out').click()
    await page.locator('#signed-out').waitFor()
    expect(await admin.userSessions('bob')).toEqual([])
  }, 60_000)

  test("Ctrl-C stops keyward, the demo API and the demo's Redis", async () => {
    // Ctrl-C in a terminal signals the whole foreground process group.
    expect(await demo.kill('SIGINT')).toBe(130)
    expect(demo.output()).toContain('demo stopped; Keycloak still runs')
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow()
    await expect(fetch(`http://127.0.0.1:${apiPort}/hello`)).rejects.toThrow()
    expect(redis.answers()).toBe(false)
  })
})
