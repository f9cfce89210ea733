import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Every process a test run starts outside jest's own workers (keyward processes, redis-servers) is
 * registered here by its process group, in a folder the global setup makes. A test that fails, times
 * out or is killed before its cleanup ran leaves its entry behind, and the global teardown kills what
 * is still alive and says so (`killLeftovers`).
 */
const folder = (): string | undefined =>
  process.env.KEYWARD_TEST_RUN_DIR && join(process.env.KEYWARD_TEST_RUN_DIR, 'processes')

/**
 * What a process the tests start inherits besides what they give it: the run's folder, and the tag
 * `.ci/run` marks its processes with to find any that outlive it.
 */
export function inheritedEnv(): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of ['KEYWARD_TEST_RUN_DIR', 'KEYWARD_PROCESS_TAG']) {
    const value = process.env[name]
    if (value) out[name] = value
  }
  return out
}

export function registerProcessGroup(pgid: number, label: string): void {
  const dir = folder()
  if (!dir) return
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, String(pgid)), label)
}

export function unregisterProcessGroup(pgid: number): void {
  const dir = folder()
  if (dir) rmSync(join(dir, String(pgid)), { force: true })
}

/**
 * The workers a keyward primary started: its live direct children running the same executable. (Not
 * by name: Node 24 names its main thread "MainThread", so /proc/<pid>/comm no longer says "node".)
 */
export function workersOf(pid: number): number[] {
  const exe = (p: number) => readlinkSync(`/proc/${p}/exe`)
  return processTree(pid).filter((child) => {
    try {
      const stat = readFileSync(`/proc/${child}/stat`, 'utf8')
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return child !== pid && Number(ppid) === pid && state !== 'Z' && exe(child) === exe(pid)
    } catch {
      return false // gone meanwhile
    }
  })
}

/** A process and its descendants (a keyward primary and its workers), from /proc. */
export function processTree(pid: number): number[] {
  let children: number[]
  try {
    children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    )
  } catch {
    return [] // gone
  }
  return [pid, ...children.flatMap(processTree)]
}

/** Sends `signal` to a whole process group; false when none of it is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false
  }
}

/**
 * Whether any process of the group is still running. A zombie does not count: it has exited, and
 * this machine's init may be slow to reap what it inherits (a daemonized redis-server, for one).
 */
function groupRunning(pgid: number): boolean {
  if (!existsSync('/proc/self/stat')) return signalGroup(pgid, 0)
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue // gone meanwhile
    }
    // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(pgrp) === pgid && state !== 'Z') return true
  }
  return false
}

/** Kills every registered process group still running; returns what it killed, labelled. */
export async function killLeftovers(): Promise<string[]> {
  const dir = folder()
  if (!dir) return []
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return []
  }
  const killed: string[] = []
  for (const entry of entries) {
    const pgid = Number(entry)
    const label = readFileSync(join(dir, entry), 'utf8')
    if (groupRunning(pgid) && signalGroup(pgid, 'SIGKILL')) killed.push(`${label} (process group ${pgid})`)
    rmSync(join(dir, entry), { force: true })
  }
  // SIGKILL is delivered at once, but takes effect asynchronously: wait until they are gone.
  for (let i = 0; i < 50 && entries.some((e) => groupRunning(Number(e))); i++)
    await new Promise((r) => setTimeout(r, 100))
  return killed
}

export interface TrackedProcess {
  child: ChildProcess
  /** Resolves with the exit code once the process has exited and the rest of its group is killed. */
  exited: Promise<number | null>
  /** Everything it wrote to stdout and stderr so far. */
  output(): string
  /** Sends `signal` (SIGKILL by default) to the whole process group; resolves once the leader has exited. */
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Spawns a process that leads its own process group, registered for the global teardown, with only
 * `env` (plus PATH and `inheritedEnv()`) in its environment. When it exits, whatever it started and
 * left in its group is killed too.
 */
export function spawnTracked(
  command: string,
  args: string[],
  options: { env: Record<string, string | undefined>; cwd: string; label: string },
): TrackedProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, ...inheritedEnv(), ...options.env },
    detached: true,
  })
  // No pid: the command could not be started (not installed, say); 'error' says why, 'exit' never comes.
  const pgid = child.pid
  if (pgid !== undefined) registerProcessGroup(pgid, options.label)
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      signalGroup(pgid!, 'SIGKILL')
      unregisterProcessGroup(pgid!)
      resolve(code)
    })
    child.on('error', (err) => {
      output += `could not start ${command}: ${err.message}\n`
      if (pgid === undefined) resolve(null)
    })
  })
  return {
    child,
    exited,
    output: () => output,
    async kill(signal = 'SIGKILL') {
      if (pgid !== undefined && child.exitCode === null && child.signalCode === null) signalGroup(pgid, signal)
      return exited
    },
  }
}
