/**
 * Every Redis key keyward writes, in one place. `{…}` is a Redis Cluster hash tag: a token session,
 * its refresh lock and its login transaction each live in one slot, so scripts may touch them together.
 */
export function redisKeys(prefix: string) {
  return {
    loginTransaction: (state: string) => `${prefix}tx:{${state}}`,
    tokenSession: (id: string) => `${prefix}tok:{${id}}`,
    refreshLock: (id: string) => `${prefix}lock:{${id}}`,
    /** An app's own client-credentials token (sealed), shared by its processes until it nears expiry. */
    clientToken: (app: string) => `${prefix}ctok:{${app}}`,
    /** A fixed-window counter, e.g. `login:<client address>`. */
    rateLimit: (name: string) => `${prefix}rl:{${name}}`,
    /** By the SHA-256 of the code: Redis never holds the value a client presents. */
    mobileCode: (hash: string) => `${prefix}code:{${hash}}`,
    /** A handoff's one-time code, by its SHA-256 too. */
    handoffCode: (hash: string) => `${prefix}handoff:{${hash}}`,
    /** The offline sessions a back-channel logout named, to ask Keycloak about again: a sorted set by when. */
    offlineRechecks: `${prefix}recheck`,
    /** A back-channel logout token already honoured, by the SHA-256 of its `iss` and `jti`. */
    seenLogoutToken: (hash: string) => `${prefix}jti:{${hash}}`,
    subIndex: (sub: string) => `${prefix}idx:sub:${sub}`,
    sidIndex: (sid: string) => `${prefix}idx:sid:${sid}`,
    /** connect-redis adds the express-session id to this prefix. */
    cookieSessionPrefix: `${prefix}sess:`,
    cookieSession: (id: string) => `${prefix}sess:${id}`,
  }
}

export type RedisKeys = ReturnType<typeof redisKeys>
