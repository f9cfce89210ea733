import { keycloakUrl } from './keyward'

/**
 * A few calls of Keycloak's admin REST API, to assert what Keycloak itself says about sessions.
 * Uses the bootstrap admin of the dev server (scripts/keycloak.sh).
 */
export class KeycloakAdmin {
  private token?: { value: string; until: number }

  constructor(
    readonly realm = 'keyward',
    readonly base = keycloakUrl(),
  ) {}

  private async accessToken(): Promise<string> {
    if (this.token && this.token.until > Date.now()) return this.token.value
    const res = await fetch(`${this.base}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: process.env.KEYCLOAK_ADMIN_USER ?? 'admin',
        password: process.env.KEYCLOAK_ADMIN_PASSWORD ?? 'admin',
      }),
    })
    if (!res.ok) throw new Error(`admin login failed: ${res.status}`)
    const body = (await res.json()) as { access_token: string; expires_in: number }
    this.token = { value: body.access_token, until: Date.now() + (body.expires_in - 10) * 1000 }
    return body.access_token
  }

  /** `path` under this realm's admin API; `body` is sent as JSON. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}/admin/realms/${this.realm}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.accessToken()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    const text = await res.text()
    return (text ? JSON.parse(text) : undefined) as T
  }

  /** Creates this realm (`settings` as in a realm export); `drop` deletes it. */
  async create(settings: Record<string, unknown> = {}): Promise<void> {
    const res = await fetch(`${this.base}/admin/realms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.accessToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ realm: this.realm, enabled: true, ...settings }),
    })
    if (!res.ok) throw new Error(`creating realm ${this.realm}: ${res.status} ${await res.text()}`)
  }

  async drop(): Promise<void> {
    await this.call('DELETE', '')
  }

  /** A client's representation, by client id. */
  async client(clientId: string): Promise<Record<string, unknown> & { id: string }> {
    const [found] = await this.call<(Record<string, unknown> & { id: string })[]>(
      'GET',
      `/clients?clientId=${encodeURIComponent(clientId)}`,
    )
    if (!found) throw new Error(`no client ${clientId}`)
    return found
  }

  /** A realm role of a test's own, created now: given to users and taken back, deleted at the end. */
  async realmRole(name: string) {
    await this.call('POST', '/roles', { name })
    const role = await this.call<{ id: string; name: string }>('GET', `/roles/${encodeURIComponent(name)}`)
    const mappings = async (user: string) => `/users/${await this.userId(user)}/role-mappings/realm`
    return {
      grant: async (user: string) => this.call('POST', await mappings(user), [role]),
      revoke: async (user: string) => this.call('DELETE', await mappings(user), [role]),
      drop: () => this.call('DELETE', `/roles/${encodeURIComponent(name)}`).catch(() => undefined),
    }
  }

  async userId(username: string): Promise<string> {
    const [user] = await this.call<{ id: string }[]>(
      'GET',
      `/users?exact=true&username=${encodeURIComponent(username)}`,
    )
    if (!user) throw new Error(`no user ${username}`)
    return user.id
  }

  /** The user's online sessions, with the clients each one holds. */
  async userSessions(username: string): Promise<{ id: string; clients: Record<string, string> }[]> {
    return this.call('GET', `/users/${await this.userId(username)}/sessions`)
  }

  /** The user's offline sessions for one client. */
  async offlineSessions(username: string, clientId: string): Promise<{ id: string }[]> {
    const [client] = await this.call<{ id: string }[]>('GET', `/clients?clientId=${encodeURIComponent(clientId)}`)
    if (!client) throw new Error(`no client ${clientId}`)
    return this.call('GET', `/users/${await this.userId(username)}/offline-sessions/${client.id}`)
  }

  /** Keycloak's error events for a client (`CODE_TO_TOKEN_ERROR invalid_dpop_proof`, …), newest first. */
  async clientErrors(clientId: string): Promise<string[]> {
    return (await this.call<{ type: string; error?: string }[]>('GET', `/events?client=${clientId}&max=500`))
      .filter((e) => e.type.endsWith('_ERROR'))
      .map((e) => `${e.type} ${e.error}`)
  }

  /** Events Keycloak recorded for a user, newest first. */
  async events(
    username: string,
    type: string,
  ): Promise<{ type: string; time: number; clientId: string; sessionId?: string }[]> {
    return this.call('GET', `/events?user=${await this.userId(username)}&type=${encodeURIComponent(type)}&max=100`)
  }
}
