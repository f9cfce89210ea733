import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { registerProcessGroup, unregisterProcessGroup } from './processes'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * A private redis-server for tests. It runs daemonized, so any test process can stop and start it
 * again by port (to test outages and restarts) whoever started it first; daemonized, it leads its own
 * process group, registered for the global teardown.
 */
export class RedisServer {
  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[] = ['--save', '', '--appendonly', 'no'],
  ) {}

  static async create(extraArgs?: string[]): Promise<RedisServer> {
    return new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'keyward-redis-')), extraArgs)
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    execFileSync('redis-server', [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--daemonize',
      'yes',
      '--dir',
      this.dir,
      '--pidfile',
      join(this.dir, 'redis.pid'),
      '--logfile',
      join(this.dir, 'redis.log'),
      ...this.extraArgs,
    ])
    await this.waitFor(true)
    this.adopt()
  }

  /** Registers a running server (started here, or by a script under test) for the global teardown. */
  adopt(): void {
    registerProcessGroup(this.pid(), `redis-server on port ${this.port}`)
  }

  async stop(): Promise<void> {
    if (!this.answers()) return
    const pid = this.pid() // redis-server removes its pidfile as it stops
    spawnSync('redis-cli', ['-p', String(this.port), 'shutdown', 'nosave'], { stdio: 'ignore' })
    await this.waitFor(false)
    unregisterProcessGroup(pid)
  }

  private pid(): number {
    return Number(readFileSync(join(this.dir, 'redis.pid'), 'utf8').trim())
  }

  answers(): boolean {
    return spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG'
  }

  private async waitFor(up: boolean): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (this.answers() === up) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`redis-server on port ${this.port} did not ${up ? 'start' : 'stop'}`)
  }
}
