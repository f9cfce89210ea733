import { ClientError, ResponseBodyError } from 'openid-client'
import { classifyError } from '../../src/oidc/classify-error'

/** A ResponseBodyError as openid-client throws it for an OAuth error answer. */
function oauthError(status: number, error: string, description?: string): ResponseBodyError {
  const err = Object.create(ResponseBodyError.prototype) as ResponseBodyError
  return Object.assign(err, { status, error, error_description: description, message: error })
}

describe('classifyError', () => {
  test('an OAuth error answer is a refusal', () => {
    expect(classifyError(oauthError(400, 'invalid_grant'))).toEqual({
      kind: 'rejected',
      error: 'invalid_grant',
      status: 400,
    })
    expect(classifyError(oauthError(401, 'invalid_client'))).toEqual({
      kind: 'rejected',
      error: 'invalid_client',
      status: 401,
    })
    expect(classifyError(oauthError(403, 'access_denied', 'Client is not within the token audience'))).toStrictEqual({
      kind: 'rejected',
      error: 'access_denied',
      description: 'Client is not within the token audience',
      status: 403,
    })
  })

  test('network failures, timeouts and 5xx are transient', () => {
    expect(classifyError(oauthError(503, 'temporarily_unavailable'))).toEqual({ kind: 'transient' })
    expect(classifyError(new TypeError('fetch failed'))).toEqual({ kind: 'transient' })
    expect(classifyError(Object.assign(new ClientError('operation timed out'), { code: 'OAUTH_TIMEOUT' }))).toEqual({
      kind: 'transient',
    })
    expect(
      classifyError(
        Object.assign(
          new ClientError('unexpected HTTP response status code', { cause: new Response('', { status: 502 }) }),
          { code: 'OAUTH_RESPONSE_IS_NOT_CONFORM' },
        ),
      ),
    ).toEqual({ kind: 'transient' })
    expect(classifyError(new DOMException('timed out', 'TimeoutError'))).toEqual({ kind: 'transient' })
    // openid-client wraps a failed custom fetch; the cause chain still tells.
    expect(classifyError(new ClientError('something went wrong', { cause: new TypeError('fetch failed') }))).toEqual({
      kind: 'transient',
    })
  })

  test('an answer that fails validation, or a bug, is neither', () => {
    expect(
      classifyError(
        Object.assign(new ClientError('unexpected JWT claim value encountered'), {
          code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
        }),
      ),
    ).toEqual({ kind: 'invalid' })
    expect(classifyError(new TypeError('x is not a function'))).toEqual({ kind: 'invalid' })
  })
})
