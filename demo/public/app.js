// The web app of the demo, served by keyward on both app hosts: it asks who is logged in, shows the
// tokens' lifetimes as keyward reports them, calls the API, keeps a WebSocket to it open (a live
// counter), hands the session to the other app, lists and revokes sessions, and logs out. It never
// holds a token: one HttpOnly cookie does it all, the WebSocket's handshake too.
/* global WebSocket */
import { $, act, call, clock, duration, Problem, showApiAnswer } from './common.js'

// The demo's two apps (scripts/demo.sh): each may hand its session to the other.
const APPS = {
  'app-a': { name: 'App A', other: 'app-b' },
  'app-b': { name: 'App B', other: 'app-a' },
}
const hostApp = location.hostname.split('.')[0]
const POLL_MS = 5000

let session // the last GET /auth/session answer
let refreshes = 0
let live // the live counter's WebSocket

function showApp() {
  const app = APPS[hostApp]
  document.body.dataset.app = app ? hostApp : ''
  $('app-badge').textContent = app ? app.name : 'keyward demo'
  $('title').textContent = app ? `keyward demo: ${app.name}` : 'keyward demo'
  $('host').textContent = location.host
  if (app) $('handoff').textContent = `Open ${APPS[app.other].name}`
}

async function loadSession() {
  let next
  try {
    next = (await call('/auth/session')).body
  } catch (err) {
    if (!(err instanceof Problem) || err.status !== 401) throw err
    // A session that ended elsewhere (logout on another app, a revocation, Keycloak) says so.
    return showAnonymous(session ? `${err.message}.` : 'You are not logged in.')
  }
  if (session && next.refreshedAt !== session.refreshedAt) {
    refreshes += 1
    $('refreshed').classList.remove('flash')
    void $('refreshed').offsetWidth // restart the highlight
    $('refreshed').classList.add('flash')
  }
  session = next
  showSession()
}

function showAnonymous(text) {
  session = undefined
  $('anonymous-text').textContent = text
  $('authenticated').hidden = true
  $('anonymous').hidden = false
}

function showSession() {
  $('name').textContent = session.user.name ?? session.user.preferred_username
  $('app').textContent = APPS[session.app]?.name ?? session.app
  $('kind').textContent = session.kind === 'offline' ? 'remembered (offline)' : 'online'
  $('level').textContent = `level ${session.user.acr ?? 'unknown'}`
  $('refreshed').textContent =
    session.refreshedAt === session.createdAt
      ? `Logged in at ${clock(session.createdAt)}; not refreshed yet.`
      : refreshes === 0
        ? `Last refreshed at ${clock(session.refreshedAt)}.`
        : `Refreshed at ${clock(session.refreshedAt)} (${refreshes} refresh${refreshes === 1 ? '' : 'es'} seen by this page).`
  $('anonymous').hidden = true
  $('authenticated').hidden = false
  tick()
  openLive()
}

/**
 * The live counter: a WebSocket through keyward to the demo API's /live, which counts each second. One
 * at a time; one that closed (its close code and reason stay shown: 4001 when the session ended) is
 * opened again by the next look at a session that is still there.
 */
function openLive() {
  if (live && (live.readyState === WebSocket.CONNECTING || live.readyState === WebSocket.OPEN)) return
  const socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/live/live`)
  live = socket
  socket.addEventListener('open', () => {
    $('live-status').textContent = 'connected'
  })
  socket.addEventListener('message', (event) => {
    $('live-count').textContent = String(JSON.parse(event.data).count)
  })
  socket.addEventListener('close', (event) => {
    $('live-status').textContent = `closed (${[event.code, event.reason].filter(Boolean).join(' ')})`
  })
}

/** The three countdowns, each second, from the last answer: no request of its own. */
function tick() {
  if (!session) return
  const start = Date.parse(session.refreshedAt)
  const bar = (name, iso, whenDone) => {
    if (iso === null) {
      $(`${name}-bar`).value = 1
      $(`${name}-left`).textContent = 'no limit set by Keycloak'
      return
    }
    const end = Date.parse(iso)
    const left = end - Date.now()
    $(`${name}-bar`).value = Math.max(0, left / Math.max(1, end - start))
    $(`${name}-left`).textContent = left > 0 ? `${duration(left)} left` : whenDone
  }
  bar('access', session.accessTokenExpiresAt, 'expired: the next API call refreshes it')
  bar('refresh', session.refreshTokenExpiresAt, 'expired')
  bar('session', session.sessionExpiresAt, 'ended')
}

async function loadSessions() {
  const { sessions } = (await call('/auth/sessions')).body
  // This session first, then the newest.
  $('sessions').replaceChildren(...sessions.sort((a, b) => b.current - a.current).map(sessionRow))
}

function sessionRow(s) {
  const row = document.createElement('tr')
  for (const text of [
    APPS[s.app]?.name ?? s.app,
    s.kind,
    s.device ?? 'unknown',
    clock(s.createdAt),
    clock(s.lastUsedAt),
  ]) {
    const cell = document.createElement('td')
    cell.textContent = text
    row.append(cell)
  }
  const action = document.createElement('td')
  if (s.current) {
    action.textContent = 'this session'
    row.classList.add('current')
  } else {
    const revoke = document.createElement('button')
    revoke.type = 'button'
    revoke.className = 'small danger'
    revoke.textContent = 'Revoke'
    revoke.dataset.session = s.id
    revoke.addEventListener('click', () =>
      act(async () => {
        await call(`/auth/sessions/${encodeURIComponent(s.id)}`, { method: 'DELETE' })
        await loadSessions()
      }),
    )
    action.append(revoke)
  }
  row.append(action)
  return row
}

$('remember').addEventListener('change', () => {
  $('login').href = `/auth/login?returnTo=/${$('remember').checked ? '&offline=1' : ''}`
})

$('call').addEventListener('click', () =>
  act(async () => {
    showApiAnswer($('api'), await call('/api/demo/hello'))
    await loadSession()
    await loadSessions() // "last used" moves with a refresh
  }),
)

$('call-gold').addEventListener('click', () =>
  act(async () => {
    $('step-up').hidden = true
    try {
      showApiAnswer($('gold'), await call('/api/gold/hello'))
    } catch (err) {
      if (err instanceof Problem && err.code === 'step_up_required') {
        // Keycloak asks for the second factor, then keyward brings the browser back to this session.
        $('step-up').href = `${err.loginUrl}&returnTo=/`
        $('step-up').hidden = false
      }
      throw err
    }
  }),
)

$('handoff').addEventListener('click', () =>
  act(async () => {
    const { url } = (await call('/auth/handoff', { method: 'POST', body: { target: APPS[session.app].other } })).body
    location.assign(url)
  }),
)

$('logout').addEventListener('click', () =>
  act(async () => {
    const { endSessionUrl } = (await call('/auth/logout', { method: 'POST' })).body
    // Let Keycloak clear its own cookies too; it sends the browser back here.
    location.assign(endSessionUrl ?? '/')
  }),
)

showApp()
act(async () => {
  await loadSession()
  if (session) await loadSessions()
})
setInterval(tick, 1000)
setInterval(
  () =>
    act(async () => {
      if (!session) return
      await loadSession()
      if (session) await loadSessions()
    }),
  POLL_MS,
)
