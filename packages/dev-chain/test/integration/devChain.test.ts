import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DEV_CONTRACT_ADDRESSES, startDevChain, type DevChain } from '../../src/index.js'

const run = promisify(execFile)
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))

describe('dev chain', () => {
  let dev: DevChain

  before(async () => {
    const started = Date.now()
    dev = await startDevChain({ port: 0 })
    console.log(`dev chain with contracts ready in ${Date.now() - started} ms`)
  })

  after(() => dev.stop())

  it('deploys the contracts at the same addresses on every start', async () => {
    assert.equal(dev.deployment.streamRegistry, DEV_CONTRACT_ADDRESSES.streamRegistry)
    assert.equal(dev.deployment.storageNodeRegistry, DEV_CONTRACT_ADDRESSES.storageNodeRegistry)
    const second = await startDevChain()
    try {
      assert.deepEqual(
        {
          streamRegistry: second.deployment.streamRegistry,
          storageNodeRegistry: second.deployment.storageNodeRegistry,
        },
        DEV_CONTRACT_ADDRESSES,
      )
    } finally {
      await second.stop()
    }
  })

  it('lets a second process see the same streams over JSON-RPC on 127.0.0.1', async () => {
    const { id } = await dev.registryFor(1).createStream('/shared/with-another-process', { partitions: 7 })
    // A separate Node.js process, with only the RPC URL and the contract addresses.
    const script = `
      import { createPublicClient, http } from 'viem'
      import { RunnelRegistry } from '@runnel/chain'
      const publicClient = createPublicClient({ transport: http(process.env.RPC_URL) })
      const registry = new RunnelRegistry({ publicClient, addresses: JSON.parse(process.env.ADDRESSES) })
      const stream = await registry.getStream(process.env.STREAM_ID)
      const found = await registry.searchStreams({ term: '/shared/' })
      console.log(JSON.stringify({ metadata: stream.metadata, found: found.map((s) => s.id) }))
    `
    const { stdout } = await run(
      process.execPath,
      ['--conditions=runnel-source', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: repoRoot,
        timeout: 60_000,
        env: {
          ...process.env,
          RPC_URL: dev.chain.rpcUrl,
          ADDRESSES: JSON.stringify(DEV_CONTRACT_ADDRESSES),
          STREAM_ID: id,
        },
      },
    )
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()!), { metadata: { partitions: 7 }, found: [id] })
  })
})
