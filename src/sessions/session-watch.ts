import { errorFields, type Logger } from '../log'

export interface SessionWatchDeps {
  /** Which of these sessions still exist (the token-session store's EXISTS). */
  existing(ids: readonly string[]): Promise<Set<string>>
  /** How often Redis is asked; a session's end is seen within this (and a round trip). */
  intervalMs: number
  log: Logger
}

/**
 * Tells this process when sessions it holds something open for (a WebSocket) end, wherever they end:
 * a logout, a revocation or a back-channel logout on any instance, Keycloak refusing a refresh, the
 * record's expiry. Every `intervalMs` one EXISTS per watched session goes to Redis, together; a
 * session found gone calls its watchers once. While Redis cannot be asked, nothing is called: an
 * outage is not a logout, and the next answer says.
 */
export function sessionWatch(deps: SessionWatchDeps) {
  const watchers = new Map<string, Set<() => void>>()
  let timer: NodeJS.Timeout | undefined
  let failing = false
  let checking = false

  async function check(): Promise<void> {
    timer = undefined
    checking = true
    const ids = [...watchers.keys()]
    try {
      const live = await deps.existing(ids)
      if (failing) deps.log.info('session watch: Redis answers again')
      failing = false
      for (const id of ids) {
        if (live.has(id)) continue
        const ended = watchers.get(id)
        watchers.delete(id)
        for (const onEnd of ended ?? []) onEnd()
      }
    } catch (err) {
      if (!failing) deps.log.warn({ error: errorFields(err) }, 'session watch: Redis cannot say which sessions ended')
      failing = true
    }
    checking = false
    schedule()
  }

  /** The next check, while anything is watched; never two at once. */
  function schedule(): void {
    if (timer || checking || watchers.size === 0) return
    timer = setTimeout(() => void check(), deps.intervalMs)
    timer.unref()
  }

  return {
    /** Calls `onEnd` once when session `id` ends; the function returned stops watching. */
    watch(id: string, onEnd: () => void): () => void {
      const mine = watchers.get(id) ?? watchers.set(id, new Set()).get(id)!
      mine.add(onEnd)
      schedule()
      return () => {
        mine.delete(onEnd)
        if (mine.size === 0 && watchers.get(id) === mine) watchers.delete(id)
      }
    },

    /** Sessions watched now. */
    get size(): number {
      return watchers.size
    },

    stop(): void {
      clearTimeout(timer)
      watchers.clear()
    },
  }
}

export type SessionWatch = ReturnType<typeof sessionWatch>
