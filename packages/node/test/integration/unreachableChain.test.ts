// The issue-14 promise, end to end: a chain that can't be reached is one kind of failure everywhere. The CLI exits 6
// for it (packages/cli/test/integration/streams.test.ts); the node's APIs answer 503 UNAVAILABLE, never 500 INTERNAL.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ERROR_CATEGORIES } from '@runnel/protocol'
import WebSocket from 'ws'
import { RunnelNode } from '../../src/index.js'
import { startTestDiscovery, type TestDiscovery } from '../../../client/test/support/discovery.js'

const STREAM_ID = '0x1111111111111111111111111111111111111111/unreachable-chain'

describe('a node whose chain endpoint is unreachable', () => {
  let discovery: TestDiscovery
  let node: RunnelNode

  before(async () => {
    discovery = await startTestDiscovery()
    node = new RunnelNode({
      network: discovery.settings,
      // Port 1 on loopback: nothing listens, so every JSON-RPC call is refused.
      chain: { rpcUrl: 'http://127.0.0.1:1' },
      log: { level: 'silent' },
      plugins: { http: { port: 0 }, websocket: { port: 0 } },
    })
    await node.start()
  })
  after(async () => {
    await node.stop()
    await discovery.stop()
  })

  it('answers an HTTP publish 503 UNAVAILABLE, the status of the category the CLI exits 6 for', async () => {
    const response = await fetch(`${node.info().endpoints.http!}/streams/${encodeURIComponent(STREAM_ID)}`, {
      method: 'POST',
      body: '{"n":1}',
      headers: { 'content-type': 'application/json' },
    })
    const body = (await response.json()) as { error: { code: string; message: string } }
    assert.equal(response.status, 503, JSON.stringify(body))
    assert.equal(body.error.code, 'UNAVAILABLE')
    assert.doesNotMatch(body.error.message, /^[A-Z_]+: /, 'the code is in its own field, not repeated in the message')
    assert.equal(ERROR_CATEGORIES.unavailable.httpStatus, 503)
    assert.equal(ERROR_CATEGORIES.unavailable.exitCode, 6)
  })

  it('refuses a WebSocket subscription before the handshake with the same 503 UNAVAILABLE', async () => {
    const url = `${node.info().endpoints.websocket!}/streams/${encodeURIComponent(STREAM_ID)}/subscribe`
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(url)
      socket.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0)
        socket.terminate()
      })
      socket.on('open', () => reject(new Error('the subscription was accepted')))
      socket.on('error', () => {})
    })
    assert.equal(status, 503)
  })
})
