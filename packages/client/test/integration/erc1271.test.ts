import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { exampleErc1271WalletAbi, exampleErc1271WalletBytecode } from '@runnel/chain'
import { SignatureType } from '@runnel/protocol'
import type { Address } from 'viem'
import type { InvalidMessageEvent, ReceivedMessage, RunnelClient } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

describe('publishing on behalf of an ERC-1271 smart-contract wallet', () => {
  let network: TestNetwork
  let streamId: string
  let wallet: Address
  let subscriber: RunnelClient
  let publisher: RunnelClient
  const received: ReceivedMessage[] = []
  const invalid: InvalidMessageEvent[] = []

  before(async () => {
    network = await startTestNetwork()
    // The wallet's owner is dev account 2; it publishes for the wallet.
    const deployHash = await network.dev.walletFor(1).deployContract({
      abi: exampleErc1271WalletAbi,
      bytecode: exampleErc1271WalletBytecode,
      args: [network.dev.walletFor(2).account.address],
    })
    wallet = (await network.dev.publicClient.waitForTransactionReceipt({ hash: deployHash })).contractAddress!
    const owner = network.client(1)
    ;({ id: streamId } = await owner.createStream('/wallet'))
    await owner.grantPermissions(streamId, wallet, 'publish')
    await owner.grantPermissions(streamId, 'public', 'subscribe')
    subscriber = network.client(3)
    subscriber.on('invalidMessage', (event) => invalid.push(event))
    await subscriber.subscribe(streamId, (message) => received.push(message))
  })

  after(() => network.stop())

  const fromWallet = (): ReceivedMessage[] => received.filter((message) => message.publisherId === wallet.toLowerCase())

  it('a message signed by the wallet’s owner arrives as the wallet’s, verified against the chain', async () => {
    publisher = network.client(2, { auth: { privateKey: network.dev.chain.accountKeys[2]!, erc1271Wallet: wallet } })
    const published = await publisher.publish(streamId, { hello: 'from a wallet' })
    assert.equal(published.publisherId, wallet.toLowerCase())
    await waitFor(() => fromWallet().length === 1, 30_000, 'the wallet’s message')
    const [message] = fromWallet()
    assert.deepEqual(message!.content, { hello: 'from a wallet' })
    assert.equal(message!.streamMessage.signatureType, SignatureType.Erc1271)
    assert.deepEqual(invalid, [])
  })

  it('a forged copy (another key) is reported invalid and does not shadow the genuine message with its ref', async () => {
    // Dev account 4 claims the wallet: its signature is one the wallet refuses.
    const forger = network.client(4, {
      auth: { privateKey: network.dev.chain.accountKeys[4]!, erc1271Wallet: wallet },
    })
    const timestamp = Date.now()
    const ref = { msgChainId: 'wallet-chain', timestamp }
    const before = fromWallet().length
    await forger.publish(streamId, { forged: true }, ref)
    await waitFor(() => invalid.length === 1, 30_000, 'the forgery’s report')
    assert.equal(invalid[0]!.reason, 'invalid-signature')
    assert.equal(invalid[0]!.publisherId, wallet.toLowerCase())
    assert.equal(invalid[0]!.streamMessage.signatureType, SignatureType.Erc1271)
    assert.deepEqual(invalid[0]!.streamMessage.getMessageRef().timestamp, timestamp)
    // The same ref (chain, timestamp, sequence 0), genuinely signed, after the forgery went through every node.
    await publisher.publish(streamId, { forged: false }, ref)
    await waitFor(() => fromWallet().length === before + 1, 30_000, 'the genuine message')
    const last = fromWallet().at(-1)!
    assert.deepEqual(last.content, { forged: false })
    assert.equal(last.timestamp, timestamp)
    assert.equal(last.msgChainId, 'wallet-chain')
    assert.equal(invalid.length, 1)
  })
})
