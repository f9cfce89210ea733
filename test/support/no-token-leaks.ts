import { isKeyward, scanForTokens, takeLeaks, trackScan } from '../../harness/leaks'

/**
 * Tokens never leave keyward, checked in every test of every suite (jest's setupFilesAfterEnv):
 * every response from a keyward under test that reaches the test through fetch (the Browser, the
 * mobile app, plain calls) is scanned, headers and body, for JWTs; so is every log line of every
 * keyward the suites run, in process or as a child process. A test during which one turned up fails,
 * naming where it was seen. (keyward's own calls to Keycloak, which share this fetch when it runs in
 * process, are not responses to a client and are not scanned.)
 */
const realFetch = globalThis.fetch

globalThis.fetch = async function fetchAndScan(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const res = await realFetch(input, init)
  const url = res.url || String(input instanceof Request ? input.url : input)
  if (!isKeyward(new URL(url))) return res
  const where = `${init?.method ?? 'GET'} ${url}`
  scanForTokens(`${where} (headers)`, [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n'))
  trackScan(
    res
      .clone()
      .arrayBuffer()
      .then((body) => scanForTokens(`${where} (body)`, Buffer.from(body).toString('utf8')))
      .catch(() => undefined), // a body cut off midway (a killed process) has nothing more to show
  )
  return res
}

afterEach(async () => {
  expect(await takeLeaks()).toEqual([])
})

afterAll(async () => {
  expect(await takeLeaks()).toEqual([])
})
