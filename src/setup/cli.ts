#!/usr/bin/env node
import { ConfigError, loadConfig } from '../config/load'
import { connectAdmin, type AdminCredentials } from './admin-api'
import { findings } from './checks'
import type { Finding } from './findings'
import type { Change } from './realm-state'

const USAGE = `usage: keyward-keycloak doctor|setup

  doctor  checks the realm against keyward's configuration (the same environment and KEYWARD_CONFIG as
          keyward): prints each problem with the change that fixes it; exits 1 when there is one
  setup   makes the changes the doctor would ask for that concern keyward's own clients (creates them,
          PKCE, redirect URIs, token exchange settings, audience mappers), then runs the doctor

Keycloak admin credentials, from the environment:
  KEYCLOAK_ADMIN_CLIENT_ID, KEYCLOAK_ADMIN_CLIENT_SECRET  a service account (client credentials), or
  KEYCLOAK_ADMIN_USER, KEYCLOAK_ADMIN_PASSWORD            an admin user (admin-cli, password grant)
  KEYCLOAK_ADMIN_REALM                                    the realm they log in to (default: master)
doctor needs view-realm, view-clients and view-users; setup also manage-clients.`

function adminCredentials(env: NodeJS.ProcessEnv): AdminCredentials {
  const realm = env.KEYCLOAK_ADMIN_REALM || 'master'
  if (env.KEYCLOAK_ADMIN_CLIENT_ID && env.KEYCLOAK_ADMIN_CLIENT_SECRET) {
    return {
      kind: 'client',
      realm,
      clientId: env.KEYCLOAK_ADMIN_CLIENT_ID,
      clientSecret: env.KEYCLOAK_ADMIN_CLIENT_SECRET,
    }
  }
  if (env.KEYCLOAK_ADMIN_USER && env.KEYCLOAK_ADMIN_PASSWORD) {
    return { kind: 'user', realm, username: env.KEYCLOAK_ADMIN_USER, password: env.KEYCLOAK_ADMIN_PASSWORD }
  }
  throw new ConfigError([
    'KEYCLOAK_ADMIN_CLIENT_ID and KEYCLOAK_ADMIN_CLIENT_SECRET, or KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD: not set',
  ])
}

/** What setup's changes granted anyone: the least that works, said plainly. */
function granted(changes: Change[]): string {
  const grants = changes.flatMap((c) => {
    if (c.kind === 'set-client' && c.fields.serviceAccountsEnabled) return [`${c.clientId} has a service account`]
    return []
  })
  return grants.length
    ? `granted: ${grants.join('; ')}; no role`
    : 'granted no role, permission or service account (Standard Token Exchange needs none)'
}

function print(found: Finding[]): void {
  for (const f of found) {
    const mark = f.severity === 'problem' ? '✗' : '!'
    const auto = f.change ? ' (setup does this)' : ''
    console.log(`${mark} ${f.subject}: ${f.problem}\n    fix: ${f.fix}${auto}`)
  }
}

async function run(command: string): Promise<number> {
  const loaded = loadConfig(process.env)
  const config = {
    ...loaded,
    apps: loaded.apps.map((app) => ({
      ...app,
      upstreamAudiences: [...app.upstreams].flatMap((name) => loaded.upstreams.get(name)?.exchange?.audience ?? []),
    })),
  }
  const limits = { ssoSessionIdleSeconds: loaded.session.lifetimes.onlineIdleSeconds }
  const base = (config.keycloak.backchannelUrl ?? config.keycloak.url).href
  const admin = await connectAdmin(base, config.keycloak.realm, adminCredentials(process.env))
  const apps = config.apps.map((a) => `${a.id} (${a.clientId})`).join(', ')
  console.log(`realm ${config.keycloak.realm} at ${config.keycloak.url.origin}; apps: ${apps}`)
  let state = await admin.read(config.apps)
  console.log(`Keycloak ${state.keycloakVersion ?? '(version not visible to these admin credentials)'}`)
  if (command === 'setup') {
    // A created client brings checks of its own (a handoff needs both ends): rounds until nothing is left to do.
    const made: Change[] = []
    for (let round = 0; round < 3; round++) {
      const changes = findings(config.apps, state, limits).filter((f) => f.change)
      if (changes.length === 0) break
      for (const f of changes) {
        await admin.apply(f.change!)
        console.log(`changed: ${f.subject}: ${f.fix}`)
        made.push(f.change!)
      }
      state = await admin.read(config.apps)
    }
    console.log(made.length ? `setup made ${made.length} change(s); ${granted(made)}` : 'setup: nothing to change')
  }
  const found = findings(config.apps, state, limits)
  print(found)
  const problems = found.filter((f) => f.severity === 'problem').length
  console.log(problems ? `doctor: ${problems} problem(s)` : 'doctor: no problems')
  return problems ? 1 : 0
}

const command = process.argv[2] ?? ''
if (command !== 'doctor' && command !== 'setup') {
  console.error(USAGE)
  process.exitCode = 2
} else {
  run(command).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err instanceof ConfigError ? err.message : `keyward ${command}: ${(err as Error).message}`)
      process.exitCode = 2
    },
  )
}
