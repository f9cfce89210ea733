import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { waitUntil } from './keyward'
import { watchKeyward } from './leaks'

const root = join(__dirname, '../..')

export interface KeywardProcess {
  child: ChildProcess
  exited: Promise<number | null>
  output(): string
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * keyward as its own process: from source through tsx, or `built` from dist/ the way `npm start`
 * runs it (benchmarks; needs `npm run build` first).
 */
export function spawnKeyward(env: Record<string, string>, options: { built?: boolean } = {}): KeywardProcess {
  const [command, args] = options.built ? [process.execPath, ['dist/main.js']] : [join(root, 'node_modules/.bin/tsx'), ['src/main.ts']]
  const child = spawn(command, args, { cwd: root, env: { PATH: process.env.PATH, ...env } })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  if (env.PORT) watchKeyward(env.PORT, () => output)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    exited,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

/** Spawns keyward on `url`'s port and waits until /readyz says ready. */
export async function startKeywardProcess(url: string, env: Record<string, string>, options: { built?: boolean } = {}): Promise<KeywardProcess> {
  const proc = spawnKeyward({ ...env, PUBLIC_URL: env.PUBLIC_URL ?? url, PORT: new URL(url).port }, options)
  try {
    await waitUntil(async () => (await fetch(`${url}/readyz`)).ok, 30_000)
  } catch (err) {
    await proc.kill()
    throw new Error(`keyward at ${url} did not become ready:\n${proc.output()}`, { cause: err })
  }
  return proc
}
