import express, { type RequestHandler } from 'express'
import { Problem } from '../../errors'
import { storeNewSession } from '../../tokens/new-session'
import { digest, randomOpaque, s256 } from '../../tokens/opaque'
import type { AppContext } from '../context'
import { deviceLabel } from '../device-label'

/** The prefix marks keyward handles for secret scanners and for the bearer check. */
export const HANDLE_PREFIX = 'kw_'

const field = (body: unknown, name: string): unknown => (body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined)

/**
 * POST /auth/token — a mobile app trades its one-time code and PKCE verifier for a session handle:
 * `{ session_token, expires_at, kind }`. The handle is 256 random bits; Redis keeps only its hash.
 * A wrong verifier or redirect URI leaves the code usable by its rightful owner.
 */
export function token(ctx: AppContext): RequestHandler[] {
  const parse = [express.urlencoded({ extended: false, limit: '8kb' }), express.json({ limit: '8kb' })]
  return [
    ...parse,
    async function issueHandle(req, res) {
      const code = field(req.body, 'code')
      const verifier = field(req.body, 'code_verifier')
      const redirectUri = field(req.body, 'redirect_uri')
      const device = field(req.body, 'device_name')
      if (typeof code !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(code)) throw new Problem('invalid_request', 'code is missing or malformed.')
      if (typeof verifier !== 'string' || !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) {
        throw new Problem('invalid_request', 'code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636).')
      }
      if (typeof redirectUri !== 'string') throw new Problem('invalid_request', 'redirect_uri is missing.')
      if (device !== undefined && (typeof device !== 'string' || !/^[^\p{Cc}\p{Cf}]{1,64}$/u.test(device))) {
        throw new Problem('invalid_request', 'device_name must be 1 to 64 characters, none of them control characters.')
      }
      const redeemed = await ctx.mobileCodes.redeem(code, { app: ctx.app.id, codeChallenge: s256(verifier), redirectUri })
      if (!redeemed.ok) {
        throw new Problem('invalid_grant', 'The code is unknown, expired or used, or does not match this verifier and redirect_uri.')
      }
      const { session, ownKeycloakSession } = redeemed.login
      const handle = `${HANDLE_PREFIX}${randomOpaque()}`
      session.handleHash = digest(handle)
      session.device = typeof device === 'string' ? device : deviceLabel(req.get('user-agent'))
      await storeNewSession(session, ownKeycloakSession, () => ctx.tokenSessions.create(session), ctx)
      res.set('Cache-Control', 'no-store').json({ session_token: handle, expires_at: new Date(session.expiresAt).toISOString(), kind: session.kind })
    },
  ]
}
