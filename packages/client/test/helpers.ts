import { TrackerServer } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { createRunnelClient, type NodeClientOptions } from '../src/node/index.js'
import type { GroupKeyStore, RunnelClient } from '../src/index.js'

/** A tracker on 127.0.0.1 and an in-process dev chain with the contracts. */
export interface TestNetwork {
  readonly dev: DevChain
  readonly trackers: string[]
  /** A client acting as dev account `index`, on this network. */
  client(index: number, options?: Partial<NodeClientOptions>, components?: { keyStore?: GroupKeyStore }): RunnelClient
  stop(): Promise<void>
}

export async function startTestNetwork(): Promise<TestNetwork> {
  // Enough funded accounts for every role a test gives out.
  const dev = await startDevChain({ accounts: 20 })
  const tracker = new TrackerServer({
    transport: new WebSocketTransport({ port: 0 }),
    signer: createNativeSigner(generatePrivateKey()),
    verifier: nativeSignatureVerifier,
  })
  const trackers = await tracker.start()
  const clients: RunnelClient[] = []
  return {
    dev,
    trackers,
    client(index, options = {}, components = {}) {
      const client = createRunnelClient(
        {
          auth: { privateKey: dev.chain.accountKeys[index]! },
          chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
          ...options,
          network: { trackers, ...options.network },
        },
        components,
      )
      clients.push(client)
      return client
    },
    async stop() {
      await Promise.all(clients.map((client) => client.destroy()))
      await tracker.stop()
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
