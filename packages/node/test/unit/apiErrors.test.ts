import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ChainError } from '@runnel/chain'
import { ClientError } from '@runnel/client'
import { NetworkError } from '@runnel/network'
import { ERROR_CATEGORIES, ProtocolError, RunnelError, errorCategoryOf, type ErrorCategory } from '@runnel/protocol'
import { toApiError } from '../../src/api/ApiError.js'
import { API_ERROR_CODES, BatchPublishError, NodeError, nodeErrorCategory } from '../../src/errors.js'

describe('toApiError', () => {
  it('keeps the statuses the API documents for its own codes', () => {
    const cases: [NodeError, number][] = [
      [new NodeError('BAD_REQUEST', 'x'), 400],
      [new NodeError('UNAUTHORIZED', 'x'), 401],
      [new NodeError('PERMISSION_DENIED', 'x'), 403],
      [new NodeError('STREAM_NOT_FOUND', 'x'), 404],
      [new NodeError('PAYLOAD_TOO_LARGE', 'x'), 413],
      [new NodeError('RATE_LIMITED', 'x'), 429],
      [new NodeError('STORAGE_FAILED', 'x'), 500],
      [new NodeError('STORAGE_UNAVAILABLE', 'x'), 503],
      [new NodeError('NOT_STORED', 'x'), 504],
      [new NodeError('INTERNAL', 'x'), 500],
    ]
    for (const [err, status] of cases) assert.deepEqual(toApiError(err), { status, code: err.code, message: 'x' })
  })

  it('maps the layers below by category, keeping a code the node has under the same name', () => {
    const cases: [unknown, number, string][] = [
      [new ChainError('STREAM_NOT_FOUND', 'no stream'), 404, 'STREAM_NOT_FOUND'],
      [new ClientError('PERMISSION_DENIED', 'may not publish'), 403, 'PERMISSION_DENIED'],
      [new ClientError('INVALID_ARGUMENT', 'partition 3 is out of range'), 400, 'BAD_REQUEST'],
      [new ClientError('NOT_STORED', 'no receipt'), 504, 'NOT_STORED'],
      [new ClientError('STORAGE_UNAVAILABLE', 'no storage node stores it'), 503, 'STORAGE_UNAVAILABLE'],
      [new ProtocolError('MESSAGE_TOO_LARGE', 'over 1 MiB'), 413, 'PAYLOAD_TOO_LARGE'],
      [new ProtocolError('INVALID_PARTITION', 'not an integer'), 400, 'BAD_REQUEST'],
      [new ChainError('NODE_NOT_REGISTERED', 'not a storage node'), 404, 'NOT_FOUND'],
      [new ChainError('STREAM_ALREADY_EXISTS', 'exists'), 409, 'CONFLICT'],
      [new ClientError('DECRYPTION_FAILED', "doesn't open"), 500, 'INTERNAL'],
      [new Error('a bug'), 500, 'INTERNAL'],
    ]
    for (const [err, status, code] of cases) {
      const api = toApiError(err)
      assert.equal(api.code, code, String(err))
      assert.equal(api.status, status, String(err))
    }
  })

  it('reports a chain or network that is unreachable as 503 UNAVAILABLE, not 500, also wrapped in INTERNAL', () => {
    const rpc = new ChainError('RPC_ERROR', 'HTTP request failed')
    assert.deepEqual(toApiError(rpc), { status: 503, code: 'UNAVAILABLE', message: 'HTTP request failed' })
    const wrapped = new NodeError('INTERNAL', "key custody: the chain couldn't be asked", { cause: rpc })
    assert.equal(toApiError(wrapped).status, 503)
    assert.equal(toApiError(wrapped).message, "key custody: the chain couldn't be asked")
    assert.equal(toApiError(new NetworkError('TIMEOUT', 'no answer')).status, 504)
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    assert.equal(toApiError(new TypeError('fetch failed', { cause: refused })).code, 'UNAVAILABLE')
    const database = new NodeError('STORAGE_FAILED', 'storage: write failed: connect ECONNREFUSED', { cause: refused })
    assert.deepEqual(toApiError(database), {
      status: 503,
      code: 'STORAGE_UNAVAILABLE',
      message: 'storage: write failed: connect ECONNREFUSED',
    })
  })

  it("gives a failed batch its cause's code, and a message without the cause's code prefix", () => {
    const err = new BatchPublishError(2, 5, new ClientError('PERMISSION_DENIED', 'may not publish'))
    assert.deepEqual(toApiError(err), {
      status: 403,
      code: 'PERMISSION_DENIED',
      message: 'message 3 of 5 failed (may not publish); the 2 before it were published',
    })
  })

  it('answers every category with a status whose CLI exit code is the one the CLI gives the same failure', () => {
    for (const category of Object.keys(ERROR_CATEGORIES) as ErrorCategory[]) {
      const failure = new NodeError('INTERNAL', 'below', { cause: failureOf(category) })
      assert.equal(errorCategoryOf(failure), category)
      const api = toApiError(failure)
      assert.equal(api.status, ERROR_CATEGORIES[nodeErrorCategory(api.code)].httpStatus)
      assert.equal(
        ERROR_CATEGORIES[nodeErrorCategory(api.code)].exitCode,
        ERROR_CATEGORIES[category].exitCode,
        category,
      )
      assert.ok((API_ERROR_CODES as readonly string[]).includes(api.code), api.code)
    }
  })
})

/** A failure of the category from a layer the node has no code for. */
function failureOf(category: ErrorCategory): Error {
  return new RunnelError('SOME_LAYER_CODE', `a failure of category ${category}`, category)
}
