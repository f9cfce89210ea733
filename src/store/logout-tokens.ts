import { createHash } from 'node:crypto'
import type { RedisKeys } from './keys'
import { guarded } from './redis'
import type { RedisClient } from './topology'

/**
 * The back-channel logout tokens already honoured, shared by every instance: a token replayed within
 * the window it is valid in is refused. Each entry expires with that window.
 */
export function createLogoutTokenLog(redis: RedisClient, keys: RedisKeys, windowSeconds: number) {
  return {
    /** Records `jti` of `issuer`; false when it was recorded before (a replay). */
    async firstSighting(issuer: string, jti: string): Promise<boolean> {
      const hash = createHash('sha256').update(`${issuer}\n${jti}`).digest('hex')
      return (await guarded(redis.set(keys.seenLogoutToken(hash), '1', 'EX', windowSeconds, 'NX'))) === 'OK'
    },
  }
}

export type LogoutTokenLog = ReturnType<typeof createLogoutTokenLog>
