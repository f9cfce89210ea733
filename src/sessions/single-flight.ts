/**
 * At most one pending call per key in this process: callers who arrive while one runs share its
 * promise. The slot is cleared only if it still holds that same promise (jose's remote JWKS pattern).
 */
export function singleFlight<T>() {
  const pending = new Map<string, Promise<T>>()
  return {
    run(key: string, call: () => Promise<T>): Promise<T> {
      const running = pending.get(key)
      if (running) return running
      const started = call().finally(() => {
        if (pending.get(key) === started) pending.delete(key)
      })
      pending.set(key, started)
      return started
    },
    get size(): number {
      return pending.size
    },
    /** Resolves once every call pending now has finished, however it ended. */
    async settled(): Promise<void> {
      await Promise.allSettled(pending.values())
    },
  }
}
