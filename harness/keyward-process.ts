import { join } from 'node:path'
import { waitUntil } from './keyward'
import { watchKeyward } from './leaks'
import { spawnTracked, type TrackedProcess } from './processes'

const root = join(__dirname, '..')

export type KeywardProcess = TrackedProcess

/**
 * keyward as its own process: from source (`node --import tsx`, one process, not the tsx CLI, whose
 * child would outlive a SIGKILL of its parent), or `built` from dist/ the way `npm start` runs it
 * (benchmarks; needs `npm run build` first). Its log is checked for tokens like every keyward's.
 */
export interface SpawnOptions {
  built?: boolean
  /** Flags for node itself, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS). */
  nodeArgs?: string[]
}

export function spawnKeyward(env: Record<string, string>, options: SpawnOptions = {}): KeywardProcess {
  const args = [
    ...(options.nodeArgs ?? []),
    ...(options.built ? ['dist/server/main.js'] : ['--import', 'tsx', 'src/server/main.ts']),
  ]
  const proc = spawnTracked(process.execPath, args, {
    cwd: root,
    env,
    label: `keyward on port ${env.PORT ?? '?'} (${env.OIDC_CLIENT_ID ?? 'no client'})`,
  })
  if (env.PORT) watchKeyward(env.PORT, proc.output)
  return proc
}

/** Spawns keyward on `url`'s port and waits until /readyz says ready. */
export async function startKeywardProcess(
  url: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<KeywardProcess> {
  const proc = spawnKeyward({ ...env, PUBLIC_URL: env.PUBLIC_URL ?? url, PORT: new URL(url).port }, options)
  try {
    const died = proc.exited.then((code) => Promise.reject(new Error(`keyward exited with ${code}`)))
    await Promise.race([waitUntil(async () => (await fetch(`${url}/readyz`)).ok, 30_000), died])
  } catch (err) {
    await proc.kill()
    throw new Error(`keyward at ${url} did not become ready:\n${proc.output()}`, { cause: err })
  }
  return proc
}
