// The whole client side of a keyward SPA: ask who is logged in, link to login, POST logout with the
// CSRF header, then let Keycloak clear its own cookies via the end-session URL keyward returns.
const $ = (id) => document.getElementById(id)

async function showSession() {
  const res = await fetch('/auth/session', { credentials: 'same-origin' })
  if (res.status === 401) {
    $('anonymous').hidden = false
    return
  }
  if (!res.ok) throw new Error((await res.json()).detail)
  const session = await res.json()
  $('name').textContent = session.user.name ?? session.user.preferred_username
  $('session').textContent = JSON.stringify(session, null, 2)
  $('authenticated').hidden = false
}

$('call').addEventListener('click', async () => {
  // Every /api call carries the CSRF header; the cookie goes along by itself, the token never does.
  const res = await fetch('/api/keycloak/userinfo', { headers: { 'X-CSRF': '1' }, credentials: 'same-origin' })
  $('api').textContent = `${res.status} ${res.statusText}\n${JSON.stringify(await res.json(), null, 2)}`
  $('api').hidden = false
})

$('logout').addEventListener('click', async () => {
  const res = await fetch('/auth/logout', { method: 'POST', headers: { 'X-CSRF': '1' }, credentials: 'same-origin' })
  const body = await res.json()
  if (!res.ok) return showError(body.detail)
  window.location.assign(body.endSessionUrl ?? '/')
})

function showError(message) {
  $('error').textContent = message
  $('error').hidden = false
}

showSession().catch((err) => showError(err.message))
