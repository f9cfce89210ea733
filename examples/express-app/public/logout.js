/*
 * Logout, for the nav's Logout link (one click, as in the original) and the /logout page's button.
 *
 * keyward's logout is a POST with the header `X-CSRF: 1` (a cross-site form or image cannot send it),
 * so it takes a script. POST /logout (index.js) ends the session at Keycloak and here, and answers
 * `{ endSessionUrl }`: Keycloak's end-session URL, where the browser goes so that Keycloak clears its
 * own cookies, and which sends it back to `returnTo`. It holds no token (no id_token_hint).
 */
/* global document, location */
'use strict'

async function logOut() {
  const events = document.getElementById('events')
  try {
    const res = await fetch('/logout?returnTo=/', { method: 'POST', headers: { 'X-CSRF': '1' } })
    const body = await res.json()
    if (!res.ok) throw new Error(body.title || `logout answered ${res.status}`)
    location.assign(body.endSessionUrl || '/') // none when there was no session
  } catch (err) {
    if (events) events.textContent = `Logout failed: ${err.message}`
  }
}

for (const element of document.querySelectorAll('[data-logout]')) {
  element.addEventListener('click', (event) => {
    event.preventDefault()
    void logOut()
  })
}
