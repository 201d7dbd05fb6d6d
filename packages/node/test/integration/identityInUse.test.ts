// A daemon whose private key another running process already uses on the
// network: it logs why at error level and stops, instead of the two kicking
// each other off the network (the tracker, or in dht mode their peers).
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { NetworkError } from '@runnel/network'
import { pino } from 'pino'
import { RunnelNode } from '../../src/index.js'
import { startTestNetwork, type TestNetwork } from '../helpers.js'
import { testDiscoveryMode } from '../../../client/test/support/discovery.js'

// Tracker mode: the tracker refuses the second process. Dht mode: the second
// finds the first itself (a peer's refusal or its self-lookup names where its
// id is held, and it dials there: see docs/network.md, "A key in use twice").
describe(`a node daemon started with a key already in use (${testDiscoveryMode()} discovery)`, () => {
  let network: TestNetwork

  before(async () => {
    network = await startTestNetwork()
  })

  after(async () => {
    await network.stop()
  })

  it('logs IDENTITY_IN_USE at error level and stops; the first process is not disconnected', async () => {
    const streamId = await network.createPublicStream('/identity-in-use')
    const first = network.client(2)
    await first.subscribe(streamId, () => undefined)
    const lines: { level: number; msg: string; err?: { message: string } }[] = []
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number])
          done()
        },
      }),
    )
    const twin = new RunnelNode(
      // The first client's key: a second process with one identity.
      network.nodeConfig(2),
      { logger },
    )
    await twin.start()
    const subscribed = twin.client.subscribe(streamId, () => undefined).catch(() => undefined)
    const failure = await twin.failed
    await subscribed
    assert.ok(failure instanceof NetworkError && failure.code === 'IDENTITY_IN_USE', String(failure))
    assert.match(failure.message, new RegExp(first.address.toLowerCase()))
    const logged = lines.find((line) => line.level === 50)
    assert.ok(logged !== undefined, 'an error line')
    assert.match(logged.err?.message ?? '', /IDENTITY_IN_USE: another process .* give each process its own private key/)
    await assert.rejects(twin.start(), /already stopped/)
    const { disconnects } = first.networkNode.getMetrics()
    assert.equal(disconnects.duplicate, undefined)
    assert.equal(disconnects['identity-in-use'], undefined)
    assert.deepEqual(first.networkNode.getStreamParts(), [`${streamId}#0`])
  })
})
