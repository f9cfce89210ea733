import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { appFrom, appSetProblems, type AppRules, type AppSpec } from './apps'
import { appId, backchannelLogoutUrl, clientAuth, cookieName, cookieSameSite, loginRules, origin } from './schema'
import type { AppConfig } from './types'

const names = (what: string, example: string) =>
  z.array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, `${what}, e.g. ${example}`))

/** One app in the file: what the single-app variables say, plus handoffs and upstreams; secrets stay in the environment. */
const appSchema = z
  .object({
    id: appId,
    publicUrl: origin,
    clientId: z.string().min(1, 'the Keycloak client id, e.g. keyward-drivers'),
    clientAuth, // its secret (from clientSecretEnv), or an assertion signed with its key
    // private_key_jwt: the signing key's file (PEM or JWK) and, during a rotation, the other key's.
    clientKeyFile: z.string().min(1).optional(),
    nextClientKeyFile: z.string().min(1).optional(),
    par: z.boolean({ error: 'true or false: whether logins are pushed to Keycloak first (PAR)' }).default(false),
    dpop: z
      .boolean({ error: "true or false: whether the app's tokens are bound to a key of each session (DPoP)" })
      .default(false),
    clientSecretEnv: z
      .string()
      .regex(
        /^[A-Z_][A-Z0-9_]*$/,
        "the name of the environment variable holding the client's secret, e.g. DRIVERS_CLIENT_SECRET",
      )
      .optional(),
    // During a secret rotation: the variable holding the client's other secret, tried when the first is refused.
    nextClientSecretEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "the name of the environment variable holding the client's next secret")
      .optional(),
    scopes: z.string().default('openid profile email'),
    allowedOrigins: z.array(z.string()).default([]),
    mobileRedirectUris: z.array(z.string()).default([]),
    postLogoutPath: z.string().startsWith('/', 'a path on publicUrl, e.g. /').default('/'),
    cookieName,
    cookieSameSite,
    handoffTargets: names('ids of the apps this one may hand its sessions to', '["drivers"]').default([]),
    upstreams: names('names from UPSTREAMS this app may call; all when left out', '["orders"]').optional(),
    backchannelLogoutUrl: backchannelLogoutUrl.optional(),
    // An app another keyward deployment serves (with its own Redis): a handoff to it, or from it, goes
    // through that deployment's POST /auth/handoff/redeem at `redeemUrl` (default: its publicUrl).
    remote: z.object({ redeemUrl: origin.optional() }).strict().optional(),
    // How Keycloak lets this app's client take sessions handed to it: Standard Token Exchange (V2), or
    // the legacy preview feature (V1: fine-grained permissions), which `keyward-keycloak setup` sets up.
    tokenExchange: z.enum(['standard', 'legacy'], { error: 'standard or legacy' }).default('standard'),
    // What a login may ask Keycloak for (prompt, login_hint, kc_idp_hint, …): nothing unless allowed.
    login: loginRules,
  })
  .strict()

const fileSchema = z.object({ apps: z.array(appSchema).min(1, 'at least one app') }).strict()

const where = (path: PropertyKey[]): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('')

/**
 * The apps of a KEYWARD_CONFIG file (JSON): each checked by the same rules as the single app of the
 * environment, each problem named by its place in the file (`apps[1].publicUrl: …`). Client secrets
 * are read from the environment variables the file names.
 */
export function appsFromFile(path: string, env: NodeJS.ProcessEnv, rules: AppRules, problems: string[]): AppConfig[] {
  let parsed: unknown
  try {
    const text = readFileSync(path, 'utf8')
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      problems.push(`KEYWARD_CONFIG: ${path} is not JSON (${(err as Error).message})`)
      return []
    }
  } catch (err) {
    problems.push(`KEYWARD_CONFIG: ${path} could not be read (${(err as Error).message})`)
    return []
  }
  const file = fileSchema.safeParse(parsed)
  if (!file.success) {
    problems.push(...file.error.issues.map((issue) => `${path}: ${where(issue.path)}: ${issue.message}`))
    return []
  }
  const name = (i: number, field: keyof AppSpec | 'clientSecretEnv' | 'nextClientSecretEnv') =>
    `${path}: apps[${i}].${field}`
  const apps = file.data.apps.map(({ clientSecretEnv, nextClientSecretEnv, remote, tokenExchange, ...app }, i) => {
    // A remote app's secret is its own deployment's business; a client with a key has none.
    const withSecret = !remote && app.clientAuth === 'client_secret_basic'
    const clientSecret = withSecret ? (env[clientSecretEnv ?? ''] ?? '') : ''
    if (withSecret && !clientSecret) {
      problems.push(
        clientSecretEnv
          ? `${name(i, 'clientSecretEnv')}: ${clientSecretEnv} is not set; set it to the client's secret`
          : `${name(i, 'clientSecretEnv')}: the name of the environment variable holding the client's secret, e.g. DRIVERS_CLIENT_SECRET (not set)`,
      )
    }
    const nextClientSecret = nextClientSecretEnv ? env[nextClientSecretEnv] : undefined
    if (nextClientSecretEnv && !nextClientSecret) {
      problems.push(
        `${name(i, 'nextClientSecretEnv')}: ${nextClientSecretEnv} is not set; set it, or leave the field out`,
      )
    }
    const config = {
      ...appFrom({ ...app, clientSecret, nextClientSecret }, rules, (field) => name(i, field), problems),
      tokenExchange,
    }
    return remote ? { ...config, remote: { redeemUrl: remote.redeemUrl ?? app.publicUrl } } : config
  })
  if (apps.length && apps.every((a) => a.remote))
    problems.push(`${path}: apps: at least one app this deployment serves`)
  problems.push(...appSetProblems(apps, name))
  return apps
}
