// Two clients in separate OS processes, over real WebSockets and the embedded
// chain's JSON-RPC on 127.0.0.1: 10,000 messages arrive complete and in order.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { createRunnelClient } from '../../src/node/index.js'
import type { ReceivedMessage, RunnelClient } from '../../src/index.js'
import { waitFor } from '../helpers.js'
import { startTestDiscovery, type TestDiscovery } from '../support/discovery.js'

const COUNT = 10_000
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))

// Runs in the child process: a publisher client that reaches the chain over HTTP.
const publisherScript = `
  import { createRunnelClient } from '@runnel/client/node'
  const config = JSON.parse(process.env.CONFIG)
  const client = createRunnelClient({
    auth: { privateKey: config.privateKey },
    network: config.network,
    chain: { rpcUrl: config.rpcUrl, contracts: config.contracts },
  })
  for (let i = 0; i < config.count; i++) {
    await client.publish(config.streamId, { i })
    // Yield now and then so the node keeps serving its neighbours while publishing.
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve))
  }
  console.log('published', config.count)
  // Stay until the parent has everything, then leave cleanly.
  process.stdin.once('data', async () => { await client.destroy(); process.exit(0) })
`

describe(`two clients in separate processes: ${COUNT} messages`, () => {
  let dev: DevChain
  let discovery: TestDiscovery
  let subscriber: RunnelClient
  let streamId: string

  before(async () => {
    dev = await startDevChain({ port: 0 })
    discovery = await startTestDiscovery()
    subscriber = createRunnelClient({
      auth: { privateKey: dev.chain.accountKeys[1]! },
      network: discovery.settings,
      chain: { rpcUrl: dev.chain.rpcUrl, contracts: dev.deployment },
    })
    ;({ id: streamId } = await subscriber.createStream('/two-processes'))
    await subscriber.grantPermissions(streamId, dev.registryFor(2).account, 'publish')
  })

  after(async () => {
    await subscriber.destroy()
    await discovery.stop()
    await dev.stop()
  })

  it('the subscriber receives every message, in order', async () => {
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(streamId, (message) => received.push(message))
    const child = spawn(
      process.execPath,
      ['--conditions=runnel-source', '--import', 'tsx', '--input-type=module', '-e', publisherScript],
      {
        cwd: repoRoot,
        stdio: ['pipe', 'pipe', 'inherit'],
        env: {
          ...process.env,
          CONFIG: JSON.stringify({
            privateKey: dev.chain.accountKeys[2],
            network: discovery.settings,
            rpcUrl: dev.chain.rpcUrl,
            contracts: {
              streamRegistry: dev.deployment.streamRegistry,
              storageNodeRegistry: dev.deployment.storageNodeRegistry,
            },
            streamId,
            count: COUNT,
          }),
        },
      },
    )
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    try {
      await waitFor(() => received.length >= COUNT, 180_000, `${COUNT} messages`)
      assert.equal(received.length, COUNT)
      received.forEach((message, index) => assert.equal((message.content as { i: number }).i, index))
      assert.ok(received.every((m) => m.publisherId === dev.registryFor(2).account.toLowerCase()))
    } finally {
      child.stdin.end('done\n')
      assert.equal(await exited, 0)
    }
  })
})
