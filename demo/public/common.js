// What both demo pages share: calling keyward, and showing its errors as a person reads them.
export const $ = (id) => document.getElementById(id)

/** keyward's problem+json answer as an Error: its `title` (and `detail`) are for people, its `code` for code. */
export class Problem extends Error {
  constructor(status, body) {
    super(body?.title ?? `${status} error`)
    this.status = status
    this.code = body?.code
    this.detail = body?.detail ?? ''
    // step_up_required: keyward's login that raises the session's level.
    this.loginUrl = body?.loginUrl
  }
}

/**
 * fetch, answering the parsed JSON body or throwing a Problem. Changing requests carry `X-CSRF: 1`
 * (keyward refuses them without it); the cookie goes along by itself, a token never does.
 */
export async function call(path, { method = 'GET', body, bearer } = {}) {
  const headers = { Accept: 'application/json' }
  if (bearer) headers.Authorization = `Bearer ${bearer}`
  else if (method !== 'GET' || path.startsWith('/api/')) headers['X-CSRF'] = '1'
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    // A mobile app has no cookie jar of the browser's: it shows itself by its handle alone.
    credentials: bearer ? 'omit' : 'same-origin',
  })
  const json = (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : undefined
  if (!res.ok) throw new Problem(res.status, json ?? { title: `${res.status} ${res.statusText}` })
  return { status: res.status, body: json }
}

/** Runs a button's (or the page's) work, showing any failure by keyward's problem title. */
export async function act(work) {
  clearError()
  try {
    await work()
  } catch (err) {
    showError(err)
  }
}

function showError(err) {
  $('error-title').textContent = err instanceof Problem ? err.message : `Something went wrong: ${err.message}`
  $('error-detail').textContent = err.detail ?? ''
  $('error').hidden = false
}

function clearError() {
  $('error').hidden = true
}

/** "4 min 05 s" from milliseconds. */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
  return `${Math.floor(s / 86400)} days ${Math.floor((s % 86400) / 3600)} h`
}

export const clock = (iso) => new Date(iso).toLocaleTimeString()

/** The upstream's answer as the page shows it: its status line and its JSON. */
export function showApiAnswer(element, { status, body }) {
  element.textContent = `${status}\n${JSON.stringify(body, null, 2)}`
  element.hidden = false
}
