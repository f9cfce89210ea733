import { request } from 'undici'
import { Failure } from '../domain/failures'

/** A remote app as the peer client needs it: where its deployment redeems handoff codes. */
export interface RemoteApp {
  id: string
  /** The path its keyward's routes are under (`/auth`). */
  authPath: string
  remote?: { redeemUrl: URL }
}

/**
 * The other side of a handoff between deployments (each with its own Redis): asks the deployment
 * that made a code for the subject token behind it, presenting a token Keycloak issued to this app's
 * client (`credentialsOf`). The one time an access token travels between servers: to another keyward,
 * over a server-to-server call, and only one whose audience holds the asking app.
 */
export function createHandoffPeer(deps: { credentialsOf: (app: string) => Promise<string>; timeoutMs: number }) {
  return {
    async redeem(from: RemoteApp, to: string, code: string): Promise<{ subjectToken: string; returnTo: string }> {
      const url = new URL(`${from.authPath}/handoff/redeem`, from.remote!.redeemUrl)
      const bearer = await deps.credentialsOf(to)
      let res
      try {
        res = await request(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          body: JSON.stringify({ code, app: to }),
          headersTimeout: deps.timeoutMs,
          bodyTimeout: deps.timeoutMs,
        })
      } catch (err) {
        throw new Failure('upstream_unavailable', `The deployment serving ${from.id} could not be reached.`, {
          cause: err,
        })
      }
      const body = (await res.body.json().catch(() => ({}))) as Record<string, unknown>
      if (res.statusCode === 200 && typeof body.subject_token === 'string' && typeof body.return_to === 'string') {
        return { subjectToken: body.subject_token, returnTo: body.return_to }
      }
      const detail = typeof body.detail === 'string' ? `: ${body.detail.slice(0, 600)}` : ''
      const said = `${res.statusCode} ${typeof body.code === 'string' ? body.code : ''}`.trim() + detail
      if (res.statusCode === 400 || (res.statusCode === 401 && body.code === 'session_expired')) {
        throw new Failure(
          body.code === 'session_expired' ? 'session_ended' : 'code_invalid',
          `The deployment serving ${from.id} refused the code (${said}).`,
        )
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        throw new Failure(
          'handoff_not_allowed',
          `The deployment serving ${from.id} refused this app's credentials (${said}).`,
        )
      }
      throw new Failure('upstream_unavailable', `The deployment serving ${from.id} failed (${said}).`)
    },
  }
}

export type HandoffPeer = ReturnType<typeof createHandoffPeer>
