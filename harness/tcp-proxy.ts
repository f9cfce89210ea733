import { createServer, connect, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of Keycloak for one keyward under test (KEYCLOAK_BACKCHANNEL_URL), to stage
 * network trouble between that keyward and Keycloak without touching Keycloak itself:
 * - `forward`: a plain pipe;
 * - `refuse`: new connections are closed at once and open ones cut (Keycloak "down");
 * - `hold`: requests are accepted but never passed on (Keycloak hangs; Keycloak never sees them);
 * - `swallow`: requests reach Keycloak, its answers are dropped (Keycloak acted, the caller never knew).
 * In `forward` mode, `answerDelayMs` holds every answer back that long (Keycloak acted, its answer is late).
 * It serves in front of a Redis just as well.
 */
export class TcpProxy {
  mode: 'forward' | 'refuse' | 'hold' | 'swallow' = 'forward'
  answerDelayMs = 0
  private readonly sockets = new Set<Socket>()
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy!: TcpProxy
    const server = createServer((client) => {
      if (proxy.mode === 'refuse') {
        client.destroy()
        return
      }
      proxy.track(client)
      if (proxy.mode === 'hold') {
        client.resume() // read and drop: nothing reaches Keycloak
        return
      }
      const upstream = connect(target.port, target.host)
      proxy.track(upstream)
      const { mode, answerDelayMs: delay } = proxy
      client.pipe(upstream)
      if (mode === 'swallow') upstream.resume()
      else if (delay === 0) upstream.pipe(client)
      else {
        // Equal delays fire in order, so the answer arrives whole, just late.
        upstream.on('data', (chunk) => setTimeout(() => client.write(chunk), delay))
        upstream.on('end', () => setTimeout(() => client.end(), delay))
      }
      const close = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on('error', close).on('close', close)
      upstream.on('error', close).on('close', () => (delay ? setTimeout(close, delay) : close()))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    proxy = new TcpProxy(server, (server.address() as { port: number }).port)
    return proxy
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  private track(socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
  }

  /** Cuts every open connection (keep-alive ones too), so the next request meets the current mode. */
  cut(): void {
    for (const s of this.sockets) s.destroy()
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
