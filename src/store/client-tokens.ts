import type { UpstreamToken } from '../domain/token-session'
import type { RedisKeys } from './keys'
import { guarded } from './redis'
import type { Sealer } from './seal'
import type { RedisClient } from './topology'

/**
 * Each app's own client-credentials token, sealed like every token keyward keeps, shared by the app's
 * processes and gone from Redis when it expires.
 */
export function createClientTokenStore(redis: RedisClient, keys: RedisKeys, sealer: Sealer) {
  return {
    async get(app: string): Promise<UpstreamToken | undefined> {
      const sealed = await guarded(redis.getBuffer(keys.clientToken(app)))
      if (!sealed) return undefined
      return JSON.parse(sealer.open(sealed, keys.clientToken(app)).toString('utf8')) as UpstreamToken
    },
    async put(app: string, token: UpstreamToken): Promise<void> {
      const sealed = sealer.seal(JSON.stringify(token), keys.clientToken(app))
      await guarded(redis.set(keys.clientToken(app), sealed, 'PXAT', token.expiresAt))
    },
  }
}

export type ClientTokenStore = ReturnType<typeof createClientTokenStore>
