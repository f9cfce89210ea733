/**
 * What only the standalone server has, beside the options (config/schema.ts): these are environment
 * variables alone.
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import { bool, count, identityHeaders, seconds } from './values'

/** Named as oauth2-proxy names them (`--set-xauthrequest`), which nginx and Traefik examples already use. */
const DEFAULT_IDENTITY_HEADERS = {
  'X-Auth-Request-User': 'sub',
  'X-Auth-Request-Preferred-Username': 'preferred_username',
  'X-Auth-Request-Name': 'name',
  'X-Auth-Request-Email': 'email',
  'X-Auth-Request-Roles': 'roles',
}

/** The port of a listener of its own, which is off unless set. */
const listenerPort = (serves: string, example: number, unset: string) => {
  const message = `a TCP port, e.g. ${example}`
  return z.coerce
    .number({ error: `a TCP port for ${serves}, e.g. ${example}; unset: ${unset}` })
    .int(message)
    .min(1, message)
    .max(65535, message)
    .optional()
}

export const serverEnvSchema = z.object({
  HOST: z.string().default('127.0.0.1'),
  WORKERS: z.coerce
    .number({ error: 'how many worker processes serve requests, e.g. 4; 1 serves from one process' })
    .int('a whole number, e.g. 4')
    .min(1, 'at least 1, e.g. 4')
    .max(256, 'at most 256')
    .default(() => availableParallelism()),
  PORT: z.coerce.number({ error: 'a TCP port, e.g. 3000' }).int().min(0).max(65535).default(3000),
  TRUST_PROXY: z
    .string()
    .regex(/^(false|\d+)$/, 'false, or the number of proxy hops in front of keyward, e.g. 1')
    .default('false'),
  STATIC_DIR: z.string().optional(),
  APPS_INDEX_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "a host and port that is no app's, e.g. localhost:3000")
    .optional(),
  SHUTDOWN_GRACE_SECONDS: seconds(20),
  HTTP_HEADERS_TIMEOUT_SECONDS: seconds(10),
  HTTP_REQUEST_TIMEOUT_SECONDS: seconds(120),
  HTTP_MAX_HEADER_BYTES: count('bytes', 16384)(16384),
  HTTP_MAX_CONNECTIONS: count('connections', 10000)(10000),
  WEBSOCKET_MAX_CONNECTIONS: count('WebSockets', 5000)(5000),
  KEYWARD_CONFIG: z.string().optional(),
  // Off unless set: a listener nobody asked for is one more port to firewall.
  METRICS_PORT: listenerPort('GET /metrics', 9464, 'no metrics'),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // Off unless set: it can hand out access tokens, so only the reverse proxy may reach it.
  FORWARD_AUTH_PORT: listenerPort('GET /auth/check', 3001, 'no forward-auth'),
  FORWARD_AUTH_HOST: z.string().min(1).default('127.0.0.1'),
  FORWARD_AUTH_HEADERS: identityHeaders.default(DEFAULT_IDENTITY_HEADERS),
  FORWARD_AUTH_ACCESS_TOKEN: bool.default(false),
})

export type ServerEnv = z.infer<typeof serverEnvSchema>
