// A trackerless daemon with network.dht.peersFile keeps its DHT contacts across restarts: restarted while its only
// entry point is down, it rejoins through the peers it saved, and gets a stream's messages again.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startEntryPoint, type EntryPoint } from '../../src/dev/entryPoint.js'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

describe('network.dht.peersFile', () => {
  let network: TestNetwork
  let entryPoint: EntryPoint
  let directory: string

  before(async () => {
    network = await startTestNetwork()
    entryPoint = await startEntryPoint()
    directory = await mkdtemp(join(tmpdir(), 'runnel-peers-'))
  })
  after(async () => {
    await entryPoint.stop()
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it('saves the DHT contacts on stop, and a restart with every entry point down rejoins through them', async () => {
    const peersFile = join(directory, 'peers.json')
    const dht = (extra = {}) => ({ network: { discovery: 'dht' as const, entryPoints: [entryPoint.url], ...extra } })
    const others = [await network.startNode(3, dht()), await network.startNode(4, dht())]
    const addressOf = (node: RunnelNode): string => node.client.networkNode.descriptor.addresses[0]!
    const first = await network.startNode(5, dht({ dht: { peersFile } }))
    await waitFor(
      () => others.every((other) => first.client.networkNode.dht!.knownPeers().includes(addressOf(other))),
      20_000,
      'the node to know both others',
    )
    await first.stop()
    const saved = JSON.parse(await readFile(peersFile, 'utf8')) as { version: number; peers: string[] }
    assert.equal(saved.version, 1)
    for (const other of others) assert.ok(saved.peers.includes(addressOf(other)), 'saved on stop')

    await entryPoint.stop()
    const restarted = await network.startNode(5, dht({ dht: { peersFile } }))
    await waitFor(() => restarted.client.networkNode.dht!.joined, 20_000, 'the restarted node to join the DHT')
    // Its messages flow again: a stream one of the others subscribes to, published to by the restarted node.
    const streamId = await network.createPublicStream('/peers-file')
    const received: unknown[] = []
    await others[0]!.client.subscribe(streamId, (message) => received.push(message.content))
    await restarted.client.publish(streamId, { after: 'restart' })
    await waitFor(() => received.length === 1, 20_000, 'the message to reach the other node')
    assert.deepEqual(received, [{ after: 'restart' }])
  })
})
