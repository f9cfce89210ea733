import type { TokenSession } from '../domain/token-session'

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * A session as its user or an admin sees it: never a token. `lastUsedAt` is when the session last
 * refreshed, which it does only when used: accurate to one access-token lifetime, at no write per request.
 */
export const sessionView = (s: TokenSession) => ({
  id: s.id,
  app: s.app,
  kind: s.kind,
  client: s.client,
  device: s.device ?? null,
  createdAt: iso(s.createdAt),
  lastUsedAt: iso(s.refreshedAt),
  expiresAt: iso(s.expiresAt),
})
