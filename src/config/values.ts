/**
 * The kinds of value keyward's options hold. Each takes what the middleware's options say (a number, a
 * list, a URL) or what an environment variable says (its text), and has one message for both, with an
 * example of a right value.
 */
import { z } from 'zod'
import { list } from './checks'

const fromText =
  <T>(parse: (text: string) => T) =>
  (v: unknown): unknown =>
    typeof v === 'string' ? parse(v) : v

export const bool = z.preprocess(
  fromText((v) => ({ true: true, '1': true, false: false, '0': false })[v] ?? v),
  z.boolean({ error: 'use true or false' }),
)

/** A positive whole number of `unit`, with an example in every message. */
export const count = (unit: string, example: number) => (fallback: number) => {
  const message = `a whole number of ${unit} above 0, e.g. ${example}`
  return z.coerce.number({ error: message }).int(message).positive(message).default(fallback)
}
export const seconds = count('seconds', 600)
export const millis = count('milliseconds', 5000)

/** How many sessions may live at once; 0: no cap. */
export const cap = (fallback: number) => {
  const message = `a whole number of sessions, e.g. ${fallback}; 0 sets no cap`
  return z.coerce.number({ error: message }).int(message).min(0, message).max(1000, 'at most 1000').default(fallback)
}

/** A list: an array, or comma-separated text. */
export const listOf = <T extends string = string>(item: z.ZodType<T> = z.string() as unknown as z.ZodType<T>) =>
  z.preprocess(fromText(list), z.array(item))

const href = (v: unknown) => (v instanceof URL ? v.href : v)

/** An absolute URL (or a `URL`), as a `URL`. */
export const url = (message: string) =>
  z.preprocess(
    href,
    z.url({ error: message }).transform((v) => new URL(v)),
  )

export const origin = z.preprocess(
  href,
  z.url({ error: 'an absolute URL such as https://app.example.com' }).transform((v, ctx) => {
    const parsed = new URL(v)
    if (parsed.pathname !== '/' || parsed.search || parsed.hash) {
      ctx.addIssue({ code: 'custom', message: `an origin without a path, e.g. ${parsed.origin}` })
    }
    return parsed
  }),
)

/** 32-byte AES keys as `kid:base64`, e.g. `k1:` followed by the output of `openssl rand -base64 32`. */
export const encryptionKeys = z.preprocess(
  fromText((v) => v.split(',')),
  z
    .array(z.string(), {
      error:
        'comma-separated kid:base64 entries, each a 32-byte key, e.g. k1:$(openssl rand -base64 32); the first encrypts',
    })
    .transform((entries, ctx) =>
      entries.map((entry) => {
        const [kid, b64, ...rest] = entry.trim().split(':')
        const key = Buffer.from(b64 ?? '', 'base64')
        if (!kid || !/^[A-Za-z0-9_-]{1,16}$/.test(kid) || rest.length || key.length !== 32) {
          ctx.addIssue({
            code: 'custom',
            message:
              'comma-separated kid:base64 entries, each a 32-byte key, e.g. k1:$(openssl rand -base64 32); the first encrypts',
          })
        }
        return { kid: kid ?? '', key }
      }),
    ),
)

export const secrets = z.preprocess(
  fromText((v) => v.split(',')),
  z
    .array(z.string(), { error: 'comma-separated secrets of at least 32 characters each; the first signs' })
    .transform((all) => all.map((s) => s.trim()))
    .refine(
      (all) => all.length > 0 && all.every((s) => s.length >= 32),
      'comma-separated secrets of at least 32 characters each; the first signs',
    ),
)

const upstreamName = /^[a-z0-9][a-z0-9-]{0,31}$/
const upstreamUrl = z
  .url()
  .refine((u) => /^https?:$/.test(new URL(u).protocol) && !new URL(u).search && !new URL(u).hash)

const UPSTREAMS_EXAMPLE =
  '{"orders":"https://orders.internal/api","billing":{"url":"https://billing.internal","timeoutSeconds":5}}'

const NOT_JSON = Symbol('not JSON')

/** An option that holds JSON: the environment's text parsed (`NOT_JSON` if it is none), or the middleware's value as it is. */
function fromJsonText(v: unknown): unknown {
  if (typeof v !== 'string') return v
  try {
    return JSON.parse(v)
  } catch {
    return NOT_JSON
  }
}

const roles = z.array(z.string().min(1).max(255)).min(1)
const claimValue = z.union([z.string(), z.number(), z.boolean()])
const claimRule = z.union([
  claimValue,
  z.array(claimValue).min(1),
  z.strictObject({ anyOf: z.array(claimValue).min(1) }),
  z.strictObject({ endsWith: z.string().min(1) }),
])

const upstreamObject = z
  .object({
    url: upstreamUrl,
    timeoutSeconds: z.number().positive().optional(),
    // A token of its own: the session's access token exchanged for one with only this audience.
    audience: z.string().min(1).max(255).optional(),
    scope: z.string().min(1).max(1024).optional(),
    // The methods forwarded (with the token); others are 405. TRACE and CONNECT never are.
    methods: z
      .array(
        z
          .string()
          .regex(/^[A-Z][A-Z-]{0,19}$/)
          .refine((m) => !['TRACE', 'TRACK', 'CONNECT'].includes(m)),
      )
      .min(1)
      .optional(),
    // What it gets: the user's token, the app's own client-credentials token, or the user's if any.
    token: z.enum(['user', 'client', 'userOrNone']).optional(),
    // A `client` upstream callers without a session may call.
    anonymous: z.boolean().optional(),
    // Who may call it, by the user's access token: roles (a list is any of them) and claims.
    requireRoles: z.union([roles, z.strictObject({ anyOf: roles }), z.strictObject({ allOf: roles })]).optional(),
    requireClaims: z.record(z.string().min(1).max(255), claimRule).optional(),
    // Step-up: the acr the user's token must reach, and/or how recent its authentication must be.
    requireAcr: z
      .string()
      .regex(/^[\w.:-]{1,64}$/)
      .optional(),
    maxAuthAgeSeconds: z.number().int().min(0).max(31_536_000).optional(),
    // WebSockets through the proxy (`Upgrade` on a GET): off unless set.
    websocket: z
      .union([
        z.boolean(),
        z.strictObject({
          onTokenExpiry: z.enum(['keep', 'close']).optional(),
          idleTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
          maxMessageBytes: z.number().int().min(125).max(104_857_600).optional(),
          maxPerSession: z.number().int().min(1).max(1000).optional(),
        }),
      ])
      .optional(),
  })
  .strict()
type UpstreamEntry = z.infer<typeof upstreamObject>

const upstreamEntry = z.union([upstreamUrl.transform((url): UpstreamEntry => ({ url })), upstreamObject])

/** What is wrong between one upstream's fields: rules that need a user of options that may have none. */
function upstreamProblems(name: string, u: UpstreamEntry): string[] {
  const token = u.token ?? 'user'
  const problems: string[] = []
  const at = JSON.stringify(name)
  if (u.anonymous !== undefined && token !== 'client') {
    problems.push(
      `${at}: anonymous is for token "client" (a "userOrNone" upstream always takes callers without a session)`,
    )
  }
  const userless = token === 'userOrNone' || (token === 'client' && u.anonymous)
  if (userless && (u.requireRoles || u.requireClaims || u.requireAcr || u.maxAuthAgeSeconds !== undefined)) {
    problems.push(
      `${at}: requireRoles, requireClaims, requireAcr and maxAuthAgeSeconds need a user, so not with callers without a session`,
    )
  }
  if (u.websocket && u.methods && !u.methods.includes('GET')) {
    problems.push(`${at}: a WebSocket opens with a GET, so websocket needs GET among methods`)
  }
  if (token !== 'user' && (u.audience || u.scope)) {
    problems.push(`${at}: audience and scope exchange the user's token, so only with token "user"`)
  }
  return problems
}

/** `{"orders": "https://orders.internal/api", "billing": {"url": "…", "timeoutSeconds": 5}}`, as JSON text or an object. */
export const upstreams = z.unknown().transform((v, ctx) => {
  const parsed = fromJsonText(v)
  if (parsed === NOT_JSON) {
    ctx.addIssue({ code: 'custom', message: `a JSON object of upstream name → base URL, e.g. ${UPSTREAMS_EXAMPLE}` })
    return z.NEVER
  }
  const result = z.record(z.string().regex(upstreamName), upstreamEntry).safeParse(parsed)
  if (!result.success) {
    ctx.addIssue({
      code: 'custom',
      message: `names of lower-case letters, digits and dashes, each an http(s) URL without query or an object {url, timeoutSeconds, audience, scope, methods, token, anonymous, requireRoles, requireClaims, requireAcr, maxAuthAgeSeconds, websocket} (methods in capitals, never TRACE or CONNECT; token user, client or userOrNone; websocket true or {onTokenExpiry keep or close, idleTimeoutSeconds, maxMessageBytes, maxPerSession}), e.g. ${UPSTREAMS_EXAMPLE}`,
    })
    return z.NEVER
  }
  const problems = Object.entries(result.data).flatMap(([name, u]) => upstreamProblems(name, u))
  for (const message of problems) ctx.addIssue({ code: 'custom', message })
  return problems.length ? z.NEVER : result.data
})

const ACR_LEVELS_EXAMPLE = '{"silver":1,"gold":2}'

/** The realm's `acr.loa.map`: acr name → level (a whole number), as JSON text or an object. */
export const acrLevels = z.unknown().transform((v, ctx) => {
  const message = `a JSON object of acr name → level, as the realm's acr.loa.map says it, e.g. ${ACR_LEVELS_EXAMPLE}`
  const result = z
    .record(z.string().regex(/^[\w.:-]{1,64}$/), z.number().int().min(0).max(100))
    .safeParse(fromJsonText(v))
  if (!result.success) {
    ctx.addIssue({ code: 'custom', message })
    return z.NEVER
  }
  return result.data
})

const NODE = /^\s*([\w.-]+|\[[\da-fA-F:]+\]):(\d{1,5})\s*$/

/** Sentinels, or seed nodes of a Redis Cluster: `host:port,host:port`, or `[{ host, port }]`. */
export const redisNodes = (example: string) =>
  z.unknown().transform((v, ctx) => {
    const message = `comma-separated host:port pairs, e.g. ${example}`
    const parts: unknown[] = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v : []
    const nodes = parts.map((part) => {
      if (typeof part === 'string') {
        const m = NODE.exec(part)
        return m ? { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined
      }
      const node = part as { host?: unknown; port?: unknown } | null
      return typeof node?.host === 'string' && typeof node.port === 'number'
        ? { host: node.host, port: node.port }
        : undefined
    })
    if (!nodes.length || nodes.some((n) => !n || !Number.isInteger(n.port) || n.port < 1 || n.port > 65535)) {
      ctx.addIssue({ code: 'custom', message })
      return z.NEVER
    }
    return nodes as { host: string; port: number }[]
  })

const IDENTITY_HEADERS_EXAMPLE = '{"X-Auth-Request-User":"sub","X-Auth-Request-Roles":"roles"}'
// Headers the proxy sets itself, or that would change what the request is: never identity headers.
const NOT_IDENTITY = new Set([
  'authorization',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'set-cookie',
  'forwarded',
])

/** Forward-auth's identity headers: header name → claim (or `roles`), as JSON text or an object. */
export const identityHeaders = z.unknown().transform((v, ctx) => {
  const result = z
    .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().regex(/^[\w.:-]{1,64}$/))
    .safeParse(fromJsonText(v))
  const reserved = result.success ? Object.keys(result.data).filter((h) => NOT_IDENTITY.has(h.toLowerCase())) : []
  if (!result.success || reserved.length) {
    const why = reserved.length ? `${reserved.join(', ')} cannot carry an identity; ` : ''
    ctx.addIssue({
      code: 'custom',
      message: `${why}a JSON object of header name → access-token claim (or roles), e.g. ${IDENTITY_HEADERS_EXAMPLE}`,
    })
    return z.NEVER
  }
  return result.data
})
