import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ChainError } from '@runnel/chain'
import { ClientError } from '@runnel/client'
import { NetworkError } from '@runnel/network'
import { NodeError } from '@runnel/node'
import { ERROR_CATEGORIES, ProtocolError } from '@runnel/protocol'
import { CliError, EXIT, exitCodeFor } from '../../src/index.js'

describe('exitCodeFor', () => {
  it('gives the documented codes their values', () => {
    assert.deepEqual(EXIT, {
      OK: 0,
      UNEXPECTED: 1,
      USAGE: 2,
      INVALID_INPUT: 3,
      NOT_FOUND: 4,
      PERMISSION_DENIED: 5,
      UNREACHABLE: 6,
    })
  })

  it('maps a missing stream to 4, from the chain and from the client', () => {
    assert.equal(exitCodeFor(new ChainError('STREAM_NOT_FOUND', 'no stream 0xabc/x')), 4)
    assert.equal(exitCodeFor(new ClientError('STREAM_NOT_FOUND', 'no stream 0xabc/x')), 4)
    assert.equal(exitCodeFor(new NodeError('STREAM_NOT_FOUND', 'no stream 0xabc/x')), 4)
  })

  it('maps refusals for lack of permission to 5', () => {
    assert.equal(exitCodeFor(new ClientError('PERMISSION_DENIED', 'may not publish')), 5)
    assert.equal(exitCodeFor(new ChainError('PERMISSION_DENIED', 'may not grant')), 5)
    assert.equal(exitCodeFor(new NodeError('UNAUTHORIZED', 'no API key')), 5)
  })

  it('maps an unreachable or failing JSON-RPC endpoint, tracker or peer to 6', () => {
    assert.equal(exitCodeFor(new ChainError('RPC_ERROR', 'HTTP request failed')), 6)
    assert.equal(exitCodeFor(new NetworkError('CONNECTION_FAILED', "can't reach ws://x")), 6)
    assert.equal(exitCodeFor(new NetworkError('TIMEOUT', 'no answer')), 6)
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    assert.equal(exitCodeFor(new TypeError('fetch failed', { cause: refused })), 6)
  })

  it('maps missing history and storage nodes: none storing or answering 6, one not registered 4', () => {
    assert.equal(exitCodeFor(new ClientError('STORAGE_UNAVAILABLE', 'no storage node stores 0xabc/x')), 6)
    assert.equal(exitCodeFor(new NodeError('STORAGE_UNAVAILABLE', 'the store is down')), 6)
    assert.equal(exitCodeFor(new ChainError('NODE_NOT_REGISTERED', '0xabc is not a registered storage node')), 4)
    assert.equal(exitCodeFor(new ChainError('ALREADY_ASSIGNED', '0xabc already stores 0xdef/x')), 3)
    assert.equal(exitCodeFor(new ChainError('NOT_ASSIGNED', '0xabc does not store 0xdef/x')), 3)
  })

  it("maps a key its publisher didn't hand over to 6, content that doesn't decrypt to 1", () => {
    assert.equal(exitCodeFor(new ClientError('KEY_UNAVAILABLE', "0xabc didn't answer")), 6)
    assert.equal(exitCodeFor(new ClientError('DECRYPTION_FAILED', "content doesn't open")), 1)
    assert.equal(exitCodeFor(new ClientError('ENCRYPTION_FAILED', 'no Web Crypto')), 1)
  })

  it('maps invalid settings, input, config and arguments to 3', () => {
    assert.equal(exitCodeFor(new CliError('INVALID_SETTINGS', 'rpcUrl from --rpc: …')), 3)
    assert.equal(exitCodeFor(new CliError('INVALID_INPUT', 'line 2 is not valid JSON')), 3)
    assert.equal(exitCodeFor(new CliError('NO_IDENTITY', 'needs a private key')), 3)
    assert.equal(exitCodeFor(new CliError('IDENTITY_EXISTS', 'exists already')), 3)
    assert.equal(exitCodeFor(new NodeError('INVALID_CONFIG', 'plugins.http.port: …')), 3)
    assert.equal(exitCodeFor(new ChainError('INVALID_PATH', 'stream path "x"')), 3)
    assert.equal(exitCodeFor(new ChainError('INVALID_METADATA', 'partitions')), 3)
    assert.equal(exitCodeFor(new ChainError('STREAM_ALREADY_EXISTS', 'exists already')), 3)
    assert.equal(exitCodeFor(new ClientError('INVALID_ARGUMENT', 'partition 3 is out of range')), 3)
    assert.equal(exitCodeFor(new ProtocolError('INVALID_PRIVATE_KEY', 'expected 64 hex digits')), 3)
    assert.equal(exitCodeFor(new ProtocolError('MESSAGE_TOO_LARGE', 'over 1 MiB')), 3)
    assert.equal(exitCodeFor(new NetworkError('IDENTITY_IN_USE', 'another process is already connected')), 3)
  })

  it("judges a node's START_FAILED by its cause", () => {
    const unreachable = new NetworkError('CONNECTION_FAILED', "can't reach the tracker")
    assert.equal(exitCodeFor(new NodeError('START_FAILED', 'failed to start', { cause: unreachable })), 6)
    const busy = Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' })
    assert.equal(exitCodeFor(new NodeError('START_FAILED', 'failed to start', { cause: busy })), 1)
    assert.equal(exitCodeFor(new NodeError('START_FAILED', 'failed to start')), 1)
  })

  it("takes every exit code from the error's category, the table the node's HTTP statuses come from", () => {
    const errors = [
      new ChainError('RPC_ERROR', 'HTTP request failed'),
      new ClientError('NOT_STORED', 'no receipt'),
      new NodeError('RATE_LIMITED', 'too many'),
      new NetworkError('IDENTITY_IN_USE', 'another process'),
      new ProtocolError('SIGNATURE_VERIFICATION_FAILED', 'forged'),
      new CliError('INVALID_INPUT', 'line 2'),
    ]
    for (const err of errors) assert.equal(exitCodeFor(err), ERROR_CATEGORIES[err.category].exitCode, err.code)
  })

  it('maps anything else to 1', () => {
    assert.equal(exitCodeFor(new Error('a bug')), 1)
    assert.equal(exitCodeFor('a string'), 1)
    assert.equal(exitCodeFor(undefined), 1)
    assert.equal(exitCodeFor(new ClientError('DESTROYED', 'this client was destroyed')), 1)
    assert.equal(exitCodeFor(Object.assign(new Error('odd'), { name: 'ChainError', code: 'SOMETHING_NEW' })), 1)
  })
})
