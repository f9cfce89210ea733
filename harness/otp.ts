import { parse } from 'node-html-parser'
import { Secret, TOTP } from 'otpauth'
import type { Browser, Hop } from './browser'

const unescape = (href: string) => href.replaceAll('&amp;', '&')
const form = { 'content-type': 'application/x-www-form-urlencoded' }

/** The code a TOTP app would show now for a base32 `secret` (Keycloak's default policy: SHA-1, 6 digits, 30 s). */
export const totpCode = (secret: string): string => new TOTP({ secret: Secret.fromBase32(secret) }).generate()

/** Waits until the next 30-second TOTP window: Keycloak takes each code once. */
export async function nextTotpWindow(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 30_000 - (Date.now() % 30_000) + 200))
}

/**
 * Keycloak's "Mobile Authenticator Setup" page (the CONFIGURE_TOTP required action), done as a person
 * would: "Unable to scan?" shows the secret as text, which a TOTP app would take; its code is sent
 * back. Returns the secret, and the hops after the form was posted.
 */
export async function enrolTotp(browser: Browser, setup: Hop): Promise<{ secret: string; hops: Hop[] }> {
  const manualLink = parse(setup.text).querySelector('a#mode-manual')?.getAttribute('href')
  if (!manualLink) throw new Error(`expected Keycloak's TOTP setup page, got ${setup.status} at ${setup.url}`)
  const manual = await browser.request(new URL(unescape(manualLink), setup.url).href)
  const page = parse(manual.text)
  const secret = page.querySelector('#kc-totp-secret-key')?.text.replace(/\s/g, '')
  const settings = page.querySelector('form#kc-totp-settings-form')
  if (!secret || !settings) throw new Error('the TOTP setup page shows no secret')
  const hidden = settings
    .querySelectorAll('input[type=hidden]')
    .map((input) => [input.getAttribute('name') ?? '', input.getAttribute('value') ?? ''])
  const posted = await browser.request(new URL(unescape(settings.getAttribute('action')!), manual.url).href, {
    method: 'POST',
    headers: form,
    body: new URLSearchParams([...hidden, ['totp', totpCode(secret)], ['userLabel', 'keyward test']]),
  })
  return { secret, hops: await continueFrom(browser, posted) }
}

/** Keycloak's OTP form, filled in with the code for `secret`; the hops after it was posted. */
export async function enterTotp(browser: Browser, otpPage: Hop, secret: string): Promise<Hop[]> {
  const otpForm = parse(otpPage.text).querySelector('form#kc-otp-login-form')
  if (!otpForm) throw new Error(`expected Keycloak's OTP form, got ${otpPage.status} at ${otpPage.url}`)
  const posted = await browser.request(new URL(unescape(otpForm.getAttribute('action')!), otpPage.url).href, {
    method: 'POST',
    headers: form,
    body: new URLSearchParams({ otp: totpCode(secret) }),
  })
  return continueFrom(browser, posted)
}

async function continueFrom(browser: Browser, posted: Hop): Promise<Hop[]> {
  const location = posted.headers.get('location')
  if (posted.status !== 302 || !location) throw new Error(`Keycloak answered the form with ${posted.status}`)
  return [posted, ...(await browser.follow(new URL(location, posted.url).href))]
}
