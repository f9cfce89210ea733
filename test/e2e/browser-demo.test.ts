import type { Browser } from 'playwright-core'
import { launchChromium, observe, screenshot } from '../../harness/chromium'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, startKeyward, type RunningKeyward } from '../../harness/keyward'

const admin = new KeycloakAdmin()

/**
 * The demo page in a real browser (Debian's Chromium through playwright-core, headless): a person's
 * login on Keycloak's own page, typed; the page's API call; logout. A first part of issue 14.
 */
describe('the demo page in Chromium', () => {
  let browser: Browser
  let kw: RunningKeyward
  beforeAll(async () => {
    browser = await launchChromium()
    kw = await startKeyward({
      STATIC_DIR: 'demo',
      UPSTREAMS: JSON.stringify({ keycloak: `${keycloakUrl()}/realms/keyward/protocol/openid-connect` }),
    })
  })
  afterAll(async () => {
    await browser?.close()
    await kw?.close()
  })

  test("alice logs in on Keycloak's page, calls the API and logs out: no token anywhere the browser saw, no console error or CSP violation", async () => {
    const context = await browser.newContext()
    const seen = observe(context, kw.url)
    const page = await context.newPage()
    try {
      await page.goto(`${kw.url}/`)
      await page.getByRole('link', { name: 'Log in with Keycloak' }).click()
      await page.locator('#username').fill('alice')
      await page.locator('#password').fill('alice-password')
      await page.locator('#kc-login').click()
      await page.waitForURL(`${kw.url}/`)
      await page.locator('#authenticated').waitFor()
      expect(await page.locator('#name').textContent()).toMatch(/alice/i)
      await screenshot(page, 'demo-1-logged-in')

      await page.locator('#call').click()
      await page.locator('#api').waitFor()
      expect(await page.locator('#api').textContent()).toMatch(/^200 OK\n[\s\S]*"preferred_username": "alice"/)
      await screenshot(page, 'demo-2-api-call')
      const sid = (await kw.redis.hget(
        (await kw.keys()).find((k) => k.includes(':tok:'))!,
        'm',
      ))!
      const keycloakSession = (JSON.parse(sid) as { sid: string }).sid
      expect(await seen.tokensSeen()).toEqual([])

      await page.locator('#logout').click()
      // Keycloak asks for a confirmation when logout carries no ID token hint (keyward keeps none).
      await page.waitForURL((url) => url.href.startsWith(`${kw.url}/`) || url.pathname.endsWith('/logout'))
      if (!page.url().startsWith(kw.url)) await page.locator('#kc-logout').click()
      await page.waitForURL(`${kw.url}/`)
      await page.locator('#anonymous').waitFor()
      await screenshot(page, 'demo-3-logged-out')
      expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(keycloakSession)

      expect(await seen.tokensSeen()).toEqual([])
      expect(seen.problems).toEqual([])
      // The page asks who is logged in, and keyward answers 401 while nobody is: before and after.
      expect(seen.failedLoads).toEqual(['401 /auth/session', '401 /auth/session'])
      expect(seen.urls.some((u) => u.startsWith(`${keycloakUrl()}/realms/keyward/protocol/openid-connect/auth`))).toBe(
        true,
      )
    } finally {
      await context.close()
    }
  })
})
