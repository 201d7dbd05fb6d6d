import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createPublicClient, createWalletClient, http, type PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { PUBLIC, RunnelRegistry } from '../../src/index.js'
import { startDevChain, type DevChain } from '@runnel/dev-chain'

// Over HTTP JSON-RPC, as an app reaches `npm start`'s chain.
describe("one account's concurrent writes", () => {
  let dev: DevChain
  let publicClient: PublicClient
  const registry = (index: number): RunnelRegistry => {
    const walletClient = createWalletClient({
      chain: dev.viemChain,
      transport: http(dev.chain.rpcUrl),
      account: privateKeyToAccount(dev.chain.accountKeys[index]!),
    })
    return new RunnelRegistry(
      { publicClient, walletClient, addresses: dev.deployment },
      { fromBlock: dev.deployment.deployBlock },
    )
  }

  before(async () => {
    dev = await startDevChain({ port: 0 })
    publicClient = createPublicClient({ chain: dev.viemChain, transport: http(dev.chain.rpcUrl) })
  })

  after(() => dev.stop())

  it('all succeed: 50 stream creations at once', async () => {
    const owner = registry(1)
    const paths = Array.from({ length: 50 }, (_, i) => `/parallel/${i}`)
    const results = await Promise.allSettled(paths.map((path) => owner.createStream(path)))
    assert.deepEqual(
      results.filter((result) => result.status === 'rejected').map((result) => String(result.reason)),
      [],
    )
    for (const path of paths) assert.ok(await owner.streamExists(`${owner.account.toLowerCase()}${path}`))
  })

  it('all succeed in any mix, from two registries with the same key', async () => {
    const [first, second] = [registry(2), registry(2)]
    const { id } = await first.createStream('/mix')
    const someone = privateKeyToAccount(dev.chain.accountKeys[5]!).address
    const writes = [
      ...Array.from({ length: 10 }, (_, i) => first.createStream(`/mix/${i}`)),
      first.grantPermission(id, PUBLIC, 'subscribe'),
      second.grantPermission(id, someone, 'publish'),
      second.registerStorageNode({ http: 'http://127.0.0.1:1' }),
      ...Array.from({ length: 10 }, (_, i) => second.createStream(`/mix/second-${i}`)),
      second.updateStream(id, { partitions: 3 }),
    ]
    const results = await Promise.allSettled(writes)
    assert.deepEqual(
      results.filter((result) => result.status === 'rejected').map((result) => String(result.reason)),
      [],
    )
    assert.ok(await first.hasPermission(id, someone, 'publish'))
    assert.ok(await first.hasPermission(id, someone, 'subscribe'), 'public subscribe')
    assert.deepEqual((await first.getStream(id)).metadata, { partitions: 3 })
  })

  it('all succeed while something else sends with the same key (another process, say)', async () => {
    const owner = registry(3)
    const account = privateKeyToAccount(dev.chain.accountKeys[3]!)
    const other = createWalletClient({ chain: dev.viemChain, transport: http(dev.chain.rpcUrl), account })
    // The other sender takes nonces behind the registry's back, one transfer after another (trying again when the
    // registry took its nonce: it is the registry's writes this test is about).
    let transferred = 0
    const transfers = (async () => {
      for (let tries = 0; transferred < 15 && tries < 100; tries++) {
        await other.sendTransaction({ to: account.address, value: 1n }).then(
          () => transferred++,
          () => undefined,
        )
      }
    })()
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => owner.createStream(`/contended/${i}`)),
    )
    await transfers
    assert.equal(transferred, 15)
    assert.deepEqual(
      results.filter((result) => result.status === 'rejected').map((result) => String(result.reason)),
      [],
    )
  })
})
