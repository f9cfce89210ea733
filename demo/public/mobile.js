// A simulated mobile app: keyward's mobile login (the app's own PKCE, a one-time code on its redirect
// URI), then an opaque session handle as its only credential. A real app keeps the handle in the
// keychain; this page keeps it in sessionStorage, which the browser tests check holds no token.
import { $, act, call, clock, Problem, showApiAnswer } from './common.js'

const REDIRECT_URI = `${location.origin}/mobile.html`
const LOGIN = 'demo-mobile-login' // the verifier and state of a sign-in under way
const HANDLE = 'demo-mobile-handle'

const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
const random = () => base64url(crypto.getRandomValues(new Uint8Array(32)))

async function signIn() {
  const verifier = random()
  const state = random()
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))))
  sessionStorage.setItem(LOGIN, JSON.stringify({ verifier, state }))
  const query = new URLSearchParams({
    client: 'mobile',
    redirect_uri: REDIRECT_URI,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  })
  if ($('remember').checked) query.set('offline', '1')
  location.assign(`/auth/login?${query}`)
}

/** Back on the redirect URI: the code (or Keycloak's error) in the query, checked against our state. */
async function finishSignIn(query) {
  const login = JSON.parse(sessionStorage.getItem(LOGIN) ?? 'null')
  sessionStorage.removeItem(LOGIN)
  history.replaceState(null, '', REDIRECT_URI) // the code is spent either way: not in history
  if (!login || query.get('state') !== login.state) throw new Error('this sign-in was not started here')
  if (query.has('error')) throw new Problem(400, { title: `The sign-in did not finish (${query.get('error')})` })
  const { body } = await call('/auth/token', {
    method: 'POST',
    body: {
      code: query.get('code'),
      code_verifier: login.verifier,
      redirect_uri: REDIRECT_URI,
      device_name: 'Demo phone',
    },
  })
  sessionStorage.setItem(HANDLE, body.session_token)
}

async function show() {
  const handle = sessionStorage.getItem(HANDLE)
  if (handle) {
    try {
      const { body: s } = await call('/auth/session', { bearer: handle })
      $('name').textContent = s.user.name ?? s.user.preferred_username
      $('kind').textContent = s.kind === 'offline' ? 'kept signed in (offline)' : 'online'
      $('expiry').textContent =
        `Session until ${clock(s.sessionExpiresAt)} unless used; access token until ${clock(s.accessTokenExpiresAt)}.`
      $('signed-out').hidden = true
      $('signed-in').hidden = false
      return
    } catch (err) {
      if (!(err instanceof Problem) || err.status !== 401) throw err
      sessionStorage.removeItem(HANDLE) // ended elsewhere: revoked from "my sessions", or logged out
    }
  }
  $('signed-in').hidden = true
  $('signed-out').hidden = false
}

$('sign-in').addEventListener('click', () => act(signIn))
$('call').addEventListener('click', () =>
  act(async () => {
    showApiAnswer($('api'), await call('/api/demo/hello', { bearer: sessionStorage.getItem(HANDLE) }))
    await show()
  }),
)
$('sign-out').addEventListener('click', () =>
  act(async () => {
    await call('/auth/logout', { method: 'POST', bearer: sessionStorage.getItem(HANDLE) })
    sessionStorage.removeItem(HANDLE)
    await show()
  }),
)

$('host').textContent = location.host
const query = new URLSearchParams(location.search)
act(async () => {
  if (query.has('code') || query.has('error')) await finishSignIn(query)
  await show()
})
