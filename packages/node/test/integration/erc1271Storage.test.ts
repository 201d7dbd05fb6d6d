import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { RunnelClient } from '@runnel/client/node'
import { exampleErc1271WalletAbi, exampleErc1271WalletBytecode } from '@runnel/chain'
import { SignatureType, type StreamPartId } from '@runnel/protocol'
import type { Address } from 'viem'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, within, waitFor, type TestNetwork } from '../helpers.js'

/**
 * A storage node and messages published for an ERC-1271 wallet, on 127.0.0.1: the node asks the wallet before it
 * writes, stores what the wallet accepts, answers `ack: 'stored'` with a receipt whose digest covers the wallet's
 * variable-length signatures, and writes no forgery.
 */
describe('storing messages of an ERC-1271 wallet', () => {
  let network: TestNetwork
  let directory: string
  let streamId: string
  let wallet: Address
  let storageNode: RunnelNode
  const clients: RunnelClient[] = []

  const walletClient = (index: number): RunnelClient => {
    const client = network.clientWith(index, {
      auth: { privateKey: network.dev.chain.accountKeys[index]!, erc1271Wallet: wallet },
    })
    clients.push(client)
    return client
  }

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-erc1271-'))
    network = await startTestNetwork()
    const deployHash = await network.dev.walletFor(1).deployContract({
      abi: exampleErc1271WalletAbi,
      bytecode: exampleErc1271WalletBytecode,
      args: [network.dev.walletFor(3).account.address],
    })
    wallet = (await network.dev.publicClient.waitForTransactionReceipt({ hash: deployHash })).contractAddress!
    const owner = network.client(1)
    ;({ id: streamId } = await owner.createStream('/wallet-stored'))
    await owner.grantPermissions(streamId, wallet, 'publish')
    await owner.grantPermissions(streamId, 'public', 'subscribe')
    storageNode = await network.startNode(5, {
      plugins: {
        http: { port: 0 },
        websocket: false as const,
        mqtt: false as const,
        storage: { sqlite: { path: join(directory, 'db') } },
      },
    })
    await owner.addStreamToStorageNode(streamId, storageNode.client.address)
    await waitFor(() => storageNode.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
  })

  after(async () => {
    await Promise.all(clients.map((client) => client.destroy()))
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it("stores the wallet's messages, acknowledges them with a receipt, and writes no forgery", async () => {
    const forger = walletClient(4)
    const publisher = walletClient(3)
    const invalid: string[] = []
    storageNode.client.on('invalidMessage', (event) => invalid.push(event.reason))
    // The forgery goes out once the forger is in the overlay: a publish before its first neighbour waits in a
    // propagation buffer that a join slowed by a loaded machine outlasted (CI, twice).
    await forger.subscribe(streamId, () => undefined)
    await waitFor(
      () => forger.networkNode.getNeighbors(`${streamId}#0` as StreamPartId).length > 0,
      60_000,
      "the forger's first neighbour",
    )
    await forger.publish(streamId, { i: -1 }, { msgChainId: 'wallet-chain', timestamp: Date.now() - 1 })
    await waitFor(() => invalid.length === 1, 30_000, 'the storage node to refuse the forgery')
    assert.deepEqual(invalid, ['invalid-signature'])
    const published = await within(publisher.publish(streamId, { i: 0 }, { ack: 'stored' }), 20_000, 'the stored ack')
    assert.equal(published.publisherId, wallet.toLowerCase())
    const reader = network.client(2)
    const stored = []
    for await (const message of reader.resend({ id: streamId, partition: 0 }, { last: 100 })) stored.push(message)
    assert.deepEqual(
      stored.map((message) => [message.content, message.streamMessage.signatureType]),
      [[{ i: 0 }, SignatureType.Erc1271]],
    )
    assert.ok(publisher.retentionStats().receiptsAccepted >= 1)
  })
})
