import express, { type RequestHandler } from 'express'
import type { AppConfig } from '../../config/types'
import { OPAQUE } from '../../domain/opaque'
import { redeemCode, type HandoffDeps } from '../../sessions/handoff'
import type { LoginDeps } from '../../sessions/login'
import { deviceLabel } from '../device-label'
import { field } from '../body'
import { KeywardError } from '../problem'

/**
 * POST /auth/token — a mobile app trades its one-time code (of its login, or of a handoff to it) and
 * PKCE verifier for a session handle: `{ session_token, expires_at, kind }` (see `redeemCode`).
 */
export function tokenRoute(deps: { app: AppConfig; login: LoginDeps; handoff: HandoffDeps }): RequestHandler[] {
  const parse = [express.urlencoded({ extended: false, limit: '8kb' }), express.json({ limit: '8kb' })]
  return [
    ...parse,
    async function issueHandle(req, res) {
      const code = field(req.body, 'code')
      const verifier = field(req.body, 'code_verifier')
      const redirectUri = field(req.body, 'redirect_uri')
      const device = field(req.body, 'device_name')
      if (typeof code !== 'string' || !OPAQUE.test(code))
        throw new KeywardError('invalid_request', 'code is missing or malformed.')
      if (typeof verifier !== 'string' || !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) {
        throw new KeywardError(
          'invalid_request',
          'code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636).',
        )
      }
      if (typeof redirectUri !== 'string') throw new KeywardError('invalid_request', 'redirect_uri is missing.')
      if (device !== undefined && (typeof device !== 'string' || !/^[^\p{Cc}\p{Cf}]{1,64}$/u.test(device))) {
        throw new KeywardError(
          'invalid_request',
          'device_name must be 1 to 64 characters, none of them control characters.',
        )
      }
      const { handle, session } = await redeemCode(deps, {
        app: deps.app.id,
        code,
        verifier,
        redirectUri,
        device: typeof device === 'string' ? device : deviceLabel(req.get('user-agent')),
      })
      res.json({ session_token: handle, expires_at: new Date(session.expiresAt).toISOString(), kind: session.kind })
    },
  ]
}
