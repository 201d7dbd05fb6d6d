import { startDevChain, type DevChain } from '@runnel/dev-chain'
import type { Clock } from '@runnel/protocol'
import { createRunnelClient, type NodeClientOptions } from '../src/node/index.js'
import type { GroupKeyStore, RunnelClient } from '../src/index.js'
import { startTestDiscovery, type DiscoverySettings } from './support/discovery.js'

/**
 * A tracker (or, with `RUNNEL_TEST_DISCOVERY=dht`, a DHT entry point) on 127.0.0.1 and an in-process dev chain with
 * the contracts.
 */
export interface TestNetwork {
  readonly dev: DevChain
  /** The tracker's URLs; empty in dht mode. */
  readonly trackers: string[]
  /** The `network` settings of the mode the network runs in: its tracker or its entry point. */
  readonly discovery: DiscoverySettings
  /** A client acting as dev account `index`, on this network. */
  client(
    index: number,
    options?: Partial<NodeClientOptions>,
    components?: { keyStore?: GroupKeyStore; clock?: Clock },
  ): RunnelClient
  stop(): Promise<void>
}

export async function startTestNetwork(): Promise<TestNetwork> {
  // Enough funded accounts for every role a test gives out.
  const dev = await startDevChain({ accounts: 20 })
  const discovery = await startTestDiscovery()
  const clients: RunnelClient[] = []
  return {
    dev,
    trackers: discovery.trackers,
    discovery: discovery.settings,
    client(index, options = {}, components = {}) {
      const client = createRunnelClient(
        {
          auth: { privateKey: dev.chain.accountKeys[index]! },
          chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
          ...options,
          network: { ...discovery.settings, ...options.network },
        },
        components,
      )
      clients.push(client)
      return client
    },
    async stop() {
      await Promise.all(clients.map((client) => client.destroy()))
      await discovery.stop()
      await dev.stop()
    },
  }
}

/** Polls `condition` until it holds; `describe` says, at the time out, what was seen instead. */
export async function waitFor(
  condition: () => boolean,
  timeoutMs = 30_000,
  what = 'condition',
  describe?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe?.() ?? what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
