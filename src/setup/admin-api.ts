import KcAdminClient from '@keycloak/keycloak-admin-client'
import type ClientRepresentation from '@keycloak/keycloak-admin-client/lib/defs/clientRepresentation'
import type { CheckedApp } from './findings'
import {
  BACKCHANNEL_LOGOUT_SESSION,
  BACKCHANNEL_LOGOUT_URL,
  JWKS_URL,
  REQUIRE_DPOP,
  REQUIRE_PAR,
  USE_JWKS_URL,
  type Change,
  type ClientState,
  type RealmState,
} from './realm-state'

/** Who the setup command and the doctor are at Keycloak: an admin user, or a client's service account. */
export type AdminCredentials =
  | { kind: 'user'; realm: string; username: string; password: string }
  | { kind: 'client'; realm: string; clientId: string; clientSecret: string }

/**
 * The only module that talks to Keycloak's admin REST API (through @keycloak/keycloak-admin-client,
 * Keycloak's own typed client): it reads the settings keyward depends on, and makes the changes the
 * setup command decided on. Reading needs view-realm, view-clients and view-users; changing,
 * manage-clients.
 */
export async function connectAdmin(baseUrl: string, realm: string, credentials: AdminCredentials) {
  const kc = new KcAdminClient({ baseUrl, realmName: credentials.realm })
  await kc.auth(
    credentials.kind === 'user'
      ? { grantType: 'password', clientId: 'admin-cli', username: credentials.username, password: credentials.password }
      : { grantType: 'client_credentials', clientId: credentials.clientId, clientSecret: credentials.clientSecret },
  )
  kc.setConfig({ realmName: realm })

  const findClient = async (clientId: string): Promise<ClientRepresentation | undefined> =>
    (await kc.clients.find({ clientId, first: 0, max: 1 })).find((c) => c.clientId === clientId)

  async function audiences(c: ClientRepresentation): Promise<string[]> {
    const scopes = await kc.clients.listDefaultClientScopes({ id: c.id! })
    const mappers = [
      ...(c.protocolMappers ?? []),
      ...(await Promise.all(scopes.map((s) => kc.clientScopes.listProtocolMappers({ id: s.id! })))).flat(),
    ]
    const audiences: string[] = []
    for (const m of mappers) {
      const config = (m.config ?? {}) as Record<string, string | undefined>
      const audience = config['included.client.audience']
      if (m.protocolMapper === 'oidc-audience-mapper' && config['access.token.claim'] !== 'false' && audience) {
        audiences.push(audience)
      }
    }
    return audiences
  }

  async function serviceAccountRoles(c: ClientRepresentation): Promise<string[]> {
    if (!c.serviceAccountsEnabled) return []
    const realmManagement = await findClient('realm-management')
    if (!realmManagement) return []
    const user = await kc.clients.getServiceAccountUser({ id: c.id! })
    const roles = await kc.users.listCompositeClientRoleMappings({ id: user.id!, clientUniqueId: realmManagement.id! })
    return roles.map((r) => r.name!).sort()
  }

  async function secretMatches(c: ClientRepresentation, secret: string): Promise<boolean | undefined> {
    if (c.publicClient) return undefined
    try {
      return (await kc.clients.getClientSecret({ id: c.id! })).value === secret
    } catch {
      return undefined // reading a secret may need more than view-clients: then it is not checked
    }
  }

  /**
   * The server's version and whether it runs the legacy token exchange; each undefined when this admin
   * may not read them (server info: an admin of another realm than master sees its version only from
   * Keycloak 26.5 on).
   */
  async function server(): Promise<{ version?: string; legacyExchange?: boolean }> {
    try {
      const info = await kc.serverInfo.find()
      return {
        version: info.systemInfo?.version,
        legacyExchange: info.features?.some((f) => f.name === 'TOKEN_EXCHANGE' && f.enabled),
      }
    } catch {
      return {}
    }
  }

  /** The kids of the keys Keycloak verifies the client's assertions with: registered, or served at its JWKS URL. */
  async function jwksKids(attributes: Record<string, string>): Promise<string[] | undefined> {
    try {
      const jwks =
        attributes['use.jwks.string'] === 'true'
          ? (JSON.parse(attributes['jwks.string'] ?? '{}') as { keys?: { kid?: string }[] })
          : attributes['use.jwks.url'] === 'true' && attributes['jwks.url']
            ? ((await (await fetch(attributes['jwks.url'], { signal: AbortSignal.timeout(5000) })).json()) as {
                keys?: { kid?: string }[]
              })
            : undefined
      return jwks?.keys?.flatMap((k) => k.kid ?? [])
    } catch {
      return undefined // keyward not running yet, or not reachable from here
    }
  }

  async function clientState(app: CheckedApp): Promise<ClientState | undefined> {
    const c = await findClient(app.clientId)
    if (!c) return undefined
    const attributes = (c.attributes ?? {}) as Record<string, string>
    return {
      id: c.id!,
      clientId: app.clientId,
      enabled: c.enabled !== false,
      publicClient: c.publicClient === true,
      standardFlowEnabled: c.standardFlowEnabled !== false,
      frontchannelLogout: c.frontchannelLogout === true,
      serviceAccountsEnabled: c.serviceAccountsEnabled === true,
      rootUrl: c.rootUrl,
      redirectUris: c.redirectUris ?? [],
      attributes,
      audiences: await audiences(c),
      serviceAccountRoles: await serviceAccountRoles(c),
      secretMatches: app.clientAuth === 'client_secret_basic' ? await secretMatches(c, app.clientSecret) : undefined,
      clientAuthenticatorType: c.clientAuthenticatorType ?? 'client-secret',
      jwksKids: app.clientAuth === 'private_key_jwt' ? await jwksKids(attributes) : undefined,
    }
  }

  return {
    async read(apps: CheckedApp[]): Promise<RealmState> {
      const r = await kc.realms.findOne({ realm })
      if (!r) throw new Error(`Keycloak has no realm ${realm}`)
      const clients = new Map<string, ClientState>()
      for (const app of apps) {
        const state = await clientState(app)
        if (state) clients.set(app.clientId, state)
      }
      const { version, legacyExchange } = await server()
      const audienceClients = new Set<string>()
      for (const audience of new Set(apps.flatMap((a) => a.upstreamAudiences))) {
        if (await findClient(audience)) audienceClients.add(audience)
      }
      return {
        realm,
        settings: {
          accessTokenLifespan: r.accessTokenLifespan ?? 300,
          ssoSessionIdleTimeout: r.ssoSessionIdleTimeout ?? 1800,
          ssoSessionMaxLifespan: r.ssoSessionMaxLifespan ?? 36000,
          clientSessionIdleTimeout: r.clientSessionIdleTimeout ?? 0,
          clientSessionMaxLifespan: r.clientSessionMaxLifespan ?? 0,
          revokeRefreshToken: r.revokeRefreshToken === true,
          refreshTokenMaxReuse: r.refreshTokenMaxReuse ?? 0,
        },
        clients,
        audienceClients,
        legacyExchange,
        keycloakVersion: version,
      }
    },

    async apply(change: Change): Promise<void> {
      if (change.kind === 'create-client') {
        await kc.clients.create({
          clientId: change.clientId,
          protocol: 'openid-connect',
          enabled: true,
          publicClient: false,
          ...(change.jwksUrl
            ? { clientAuthenticatorType: 'client-jwt' }
            : { clientAuthenticatorType: 'client-secret', secret: change.secret }),
          standardFlowEnabled: true,
          directAccessGrantsEnabled: false,
          implicitFlowEnabled: false,
          frontchannelLogout: false,
          redirectUris: [change.redirectUri],
          attributes: {
            'pkce.code.challenge.method': 'S256',
            'post.logout.redirect.uris': change.postLogoutUri,
            [BACKCHANNEL_LOGOUT_URL]: change.backchannelLogoutUrl,
            [BACKCHANNEL_LOGOUT_SESSION]: 'true',
            ...(change.jwksUrl ? { [USE_JWKS_URL]: 'true', [JWKS_URL]: change.jwksUrl } : {}),
            ...(change.requirePar ? { [REQUIRE_PAR]: 'true' } : {}),
            ...(change.requireDpop ? { [REQUIRE_DPOP]: 'true' } : {}),
          },
        })
        return
      }
      const c = await findClient(change.clientId)
      if (!c) throw new Error(`no client ${change.clientId}`)
      switch (change.kind) {
        case 'set-client':
          await kc.clients.update({ id: c.id! }, { ...c, ...change.fields })
          return
        case 'set-attributes':
          await kc.clients.update({ id: c.id! }, { ...c, attributes: { ...c.attributes, ...change.attributes } })
          return
        case 'add-redirect-uri':
          await kc.clients.update({ id: c.id! }, { ...c, redirectUris: [...(c.redirectUris ?? []), change.uri] })
          return
        case 'add-audience':
          await kc.clients.addProtocolMapper(
            { id: c.id! },
            {
              name: `audience ${change.audience}`,
              protocol: 'openid-connect',
              protocolMapper: 'oidc-audience-mapper',
              config: {
                'included.client.audience': change.audience,
                'access.token.claim': 'true',
                'id.token.claim': 'false',
                'introspection.token.claim': 'true',
              },
            },
          )
          return
      }
    },
  }
}

export type AdminApi = Awaited<ReturnType<typeof connectAdmin>>
