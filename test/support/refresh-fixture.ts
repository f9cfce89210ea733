import { Browser } from '../../harness/browser'
import { type KeycloakAdmin } from '../../harness/keycloak-admin'
import type { RunningKeyward } from '../../harness/keyward'
import { openTokens, waitUntil } from '../../harness/keyward'

/** keyward-short issues 10-second access tokens (keycloak/keyward-realm.json). */
export const SHORT_CLIENT = { OIDC_CLIENT_ID: 'keyward-short', OIDC_CLIENT_SECRET: 'keyward-short-dev-secret' }
export const api = { 'x-csrf': '1' }

export interface StoredSession {
  key: string
  id: string
  sid: string
  version: number
  accessExpiresAt: number
  expiresAt: number
}

/** The one token session under `kw`'s prefix (or the one not among `except`), as Redis holds it. */
export async function storedSession(
  kw: Pick<RunningKeyward, 'keys' | 'redis'>,
  except: string[] = [],
): Promise<StoredSession | undefined> {
  const key = (await kw.keys()).find((k) => k.includes(':tok:') && !except.includes(k))
  if (!key) return undefined
  const h = await kw.redis.hgetall(key)
  if (!h.m) return undefined
  const meta = JSON.parse(h.m)
  return {
    key,
    id: key.slice(key.indexOf('{') + 1, -1),
    sid: meta.sid,
    version: Number(h.v),
    accessExpiresAt: meta.accessExpiresAt,
    expiresAt: meta.expiresAt,
  }
}

/** The Keycloak session id (`sid`) of a stored token session, by the session's id. */
export async function storedSid(kw: Pick<RunningKeyward, 'redis' | 'config'>, id: string): Promise<string> {
  return JSON.parse((await kw.redis.hget(`${kw.config.redis.prefix}tok:{${id}}`, 'm'))!).sid as string
}

/** The claims of the access token a stored session holds right now (opened with the test key). */
export async function storedAccessClaims(
  kw: Pick<RunningKeyward, 'redis'>,
  session: StoredSession,
): Promise<Record<string, unknown>> {
  const { accessToken } = openTokens((await kw.redis.hgetBuffer(session.key, 't'))!, session.id)
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>
}

/** How many refreshes Keycloak itself recorded for one user session. */
export async function refreshCount(admin: KeycloakAdmin, username: string, sid: string): Promise<number> {
  return (await admin.events(username, 'REFRESH_TOKEN')).filter((e) => e.sessionId === sid).length
}

/** Waits until the stored access token has expired (plus a margin for clock granularity). */
export async function untilExpired(session: StoredSession): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(0, session.accessExpiresAt - Date.now() + 200)))
}

export async function loggedIn(kw: RunningKeyward, username = 'alice', password = `${username}-password`) {
  const before = await kw.keys()
  const browser = new Browser()
  await browser.login(kw.url, username, password)
  const session = (await storedSession(kw, before))!
  return { browser, session }
}

export { waitUntil }
