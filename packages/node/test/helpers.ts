import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { createRunnelClient } from '@runnel/client/node'
import type { RunnelClient, RunnelClientOptions } from '@runnel/client'
import { RunnelNode, type NodeConfigInput } from '../src/index.js'
import { startTestDiscovery, type DiscoverySettings } from '../../client/test/support/discovery.js'

/**
 * A dev chain on 127.0.0.1 (real JSON-RPC over HTTP), a tracker (or, with `RUNNEL_TEST_DISCOVERY=dht`, a DHT entry
 * point), and helpers to start node daemons and SDK clients on it. Every API listens on port 0.
 */
export interface TestNetwork {
  readonly dev: DevChain
  readonly rpcUrl: string
  /** The tracker's URLs; empty in dht mode. */
  readonly trackers: string[]
  /** The `network` settings of the mode the network runs in: its tracker or its entry point. */
  readonly discovery: DiscoverySettings
  /** The part of a node config that puts a node on this network as dev account `index`: key, discovery, chain. */
  nodeConfig(index: number): NodeConfigInput & { chain: NonNullable<NodeConfigInput['chain']> }
  /** Starts a node daemon acting as dev account `index`; `config` is merged over a test base (APIs on free ports, logs silent). */
  startNode(index: number, config?: NodeConfigInput): Promise<RunnelNode>
  /** The SDK client acting as dev account `index` (one per account; don't start a node with the same account). */
  client(index: number): RunnelClient
  /**
   * A new SDK client acting as dev account `index` (its key, unless `options.auth` says otherwise), with `options` over the network's;
   * stopped with the network. For a client with settings of its own: account `index` must have no other client.
   */
  clientWith(index: number, options: RunnelClientOptions): RunnelClient
  /** Creates a stream as dev account 1 with `public` publish and subscribe permission; returns its id. */
  createPublicStream(path: string, partitions?: number): Promise<string>
  stop(): Promise<void>
}

export async function startTestNetwork(): Promise<TestNetwork> {
  const dev = await startDevChain({ port: 0 })
  const discovery = await startTestDiscovery()
  const rpcUrl = dev.chain.rpcUrl!
  const nodes: RunnelNode[] = []
  const clients: RunnelClient[] = []
  // One client per account: two nodes with one key would be one network identity, and the second is refused (IDENTITY_IN_USE).
  const byAccount = new Map<number, RunnelClient>()
  const clientWith = (index: number, options: RunnelClientOptions): RunnelClient => {
    const created = createRunnelClient({
      chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
      network: discovery.settings,
      ...options,
      auth: options.auth ?? { privateKey: dev.chain.accountKeys[index]! },
    })
    clients.push(created)
    return created
  }
  const client = (index: number): RunnelClient => {
    const existing = byAccount.get(index)
    if (existing !== undefined) return existing
    const created = clientWith(index, {})
    byAccount.set(index, created)
    return created
  }
  const owner = client(1)
  const nodeConfig = (index: number) => ({
    privateKey: dev.chain.accountKeys[index]!,
    network: discovery.settings,
    // Off but in the tests of it: it sends a transaction from the node's key (the test's own account) at start.
    metrics: { publish: false },
    chain: {
      rpcUrl,
      contracts: {
        streamRegistry: dev.deployment.streamRegistry,
        storageNodeRegistry: dev.deployment.storageNodeRegistry,
      },
    },
  })
  return {
    dev,
    rpcUrl,
    trackers: discovery.trackers,
    discovery: discovery.settings,
    nodeConfig,
    async startNode(index, config = {}) {
      const base = nodeConfig(index)
      const node = new RunnelNode({
        ...base,
        log: { level: 'silent' },
        ...config,
        chain: { ...base.chain, ...config.chain },
        plugins: {
          http: { port: 0 },
          websocket: { port: 0 },
          mqtt: { port: 0 },
          ...config.plugins,
        },
      })
      nodes.push(node)
      await node.start()
      return node
    },
    client,
    clientWith,
    async createPublicStream(path, partitions = 1) {
      const stream = await owner.createStream(path, { partitions })
      await owner.grantPermissions(stream.id, 'public', 'publish', 'subscribe')
      return stream.id
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()))
      await Promise.all(clients.map((created) => created.destroy()))
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

/** Rejects with a message naming what was awaited, instead of hanging until the test times out. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
