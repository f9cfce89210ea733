/**
 * What the four apps of bench/middleware.ts share: their settings, read from the environment (each app
 * is its own process, started by the benchmark), the one thing their handler does (call the upstream
 * and answer its status and body), and how they listen.
 */
import type { Express, Response } from 'express'
import { decodeJwt } from 'jose'
import { request } from 'undici'

/** A setting the benchmark must give (an environment variable). */
export function setting(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is required`)
  return value
}

const port = Number(setting('PORT'))
/** Where the app is reached: its own port on loopback (its login's redirect URI too). */
export const publicUrl = `http://127.0.0.1:${port}`
const upstream = setting('UPSTREAM_URL')

/**
 * The handler's work, the same in every app: GET the upstream with the access token (none in the app
 * without auth), then answer its status and body. undici's `request` rather than `fetch`: it costs
 * less, so what each middleware adds weighs more in the comparison, not less.
 */
export async function callUpstream(res: Response, token?: string): Promise<void> {
  const answer = await request(`${upstream}/fresh`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
  const body = await answer.body.text()
  res.status(answer.statusCode).type('json').send(body)
}

/**
 * The other handler's work, `GET /token`: the token alone, with no upstream call (its length answered,
 * never the token), so that what each middleware costs is not hidden behind the upstream's.
 */
export function useToken(res: Response, token?: string): void {
  res.json({ length: token?.length ?? 0 })
}

/** Listens on PORT, then says so on stdout (what the benchmark waits for); SIGTERM ends it. */
export function listen(app: Express): void {
  app.listen(port, '127.0.0.1', (err?: Error) => {
    if (err) throw err
    console.log('listening')
  })
  process.on('SIGTERM', () => process.exit(0))
}

/** What `GET /sid` answers: the Keycloak session (`sid`) and expiry (`exp`, seconds) of the access token held. */
export function tokenFacts(accessToken: string): { sid: unknown; exp: unknown } {
  const { sid, exp } = decodeJwt(accessToken)
  return { sid, exp }
}

/** Exits with the error: an app that cannot start must not leave the benchmark waiting. */
export function fail(err: unknown): never {
  console.error(err)
  process.exit(1)
}
