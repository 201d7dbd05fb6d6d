import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PUBLIC, RunnelIncentives } from '@runnel/chain'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { createRunnelClient } from '@runnel/client/node'
import { ExplorerServer } from '@runnel/explorer'
import { TrackerServer } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import {
  addressFromPrivateKey,
  generatePrivateKey,
  toStreamPartId,
  type StreamId,
  type StreamPartId,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { DEFAULT_PORTS } from '../config.js'
import { NodeError } from '../errors.js'
import { createLogger, type Logger } from '../logger.js'
import { RunnelNode, type NodeInfo } from '../RunnelNode.js'
import { startEntryPoint } from './entryPoint.js'

export interface DevNetworkOptions {
  /** Where everything listens. Default 127.0.0.1. */
  readonly host?: string
  /** Fixed ports by default (see `DEFAULT_PORTS`); 0 picks free ones (tests). */
  readonly ports?: Partial<Record<keyof typeof DEFAULT_PORTS, number>>
  /** Full nodes besides the API node; they relay the demo stream. Default 2. */
  readonly relayNodes?: number
  /** API keys the API node requires. Default none. */
  readonly apiKeys?: readonly string[]
  /** Start a SQLite storage node that stores the demo stream. Default true. */
  readonly storage?: boolean
  /**
   * How the nodes find each other: through a tracker (default), or through the DHT, joined at an entry point that
   * runs where the tracker would (`ports.entryPoint`).
   */
  readonly discovery?: 'tracker' | 'dht'
  /**
   * Operators to start, 0 to 7 (default 0): each from its own dev account (1, 2, …) creates an operator, delegates
   * to it, lists itself as its node, stakes on a sponsorship of the demo stream (created and funded by the developer
   * account) and runs an operator node that relays the stream and collects its earnings.
   */
  readonly operators?: number
  /** Serve the Network Explorer (`ports.explorer`). Default true. */
  readonly explorer?: boolean
  readonly logger?: Logger
}

/** An operator `runnel dev --operators N` started. */
export interface DevOperator {
  /** The operator contract. */
  readonly address: string
  /** The dev account that owns it and is its node. */
  readonly owner: string
  readonly node: RunnelNode
}

/** The most operators `runnel dev` starts: dev accounts 1–7 (0 is the developer's, 8 and 9 the storage and API nodes'). */
export const MAX_DEV_OPERATORS = 7
/** What the demo sponsorship pays per second (1 RNL), and its funds (enough for about 28 hours). */
const DEMO_SPONSORSHIP = { ratePerSecond: 10n ** 18n, funding: 100_000n * 10n ** 18n } as const
const OPERATOR_DELEGATION = 10_000n * 10n ** 18n
const OPERATOR_STAKE = 5_000n * 10n ** 18n

/** A running local network: chain, tracker (or DHT entry point), an API node and relay nodes. */
export interface DevNetwork {
  readonly chain: DevChain
  readonly rpcUrl: string
  readonly discovery: 'tracker' | 'dht'
  /** The tracker's URL (tracker mode). */
  readonly trackerUrl: string | undefined
  /** The DHT entry point's URL (dht mode). */
  readonly entryPointUrl: string | undefined
  /** The `network` settings that put a client or node on this network: the mode and its tracker or entry point. */
  readonly network:
    | { readonly discovery: 'tracker'; readonly trackers: string[] }
    | { readonly discovery: 'dht'; readonly entryPoints: string[] }
  /** The node serving WebSocket, HTTP and MQTT. */
  readonly apiNode: RunnelNode
  readonly endpoints: NodeInfo['endpoints']
  /** A funded dev account's key (hardhat's well-known account 0: never use it for anything of value). */
  readonly devPrivateKey: `0x${string}`
  readonly devAddress: string
  /** A stream anyone may publish to and subscribe to, ready for the examples: `<devAddress>/demo`. */
  readonly demoStreamId: string
  /** The storage node's history API, when it runs. */
  readonly storageUrl: string | undefined
  /** The demo stream's sponsorship, when operators run. */
  readonly sponsorshipId: number | undefined
  /** The operators started (`operators`). */
  readonly operators: readonly DevOperator[]
  /** The Network Explorer's URL, when it runs. */
  readonly explorerUrl: string | undefined
  /** The Network Explorer, when it runs (its `client` is the node it looks at the network from). */
  readonly explorer: ExplorerServer | undefined
  /** Every node of the network: the API node, the storage node, relays and operators. */
  readonly nodes: readonly RunnelNode[]
  stop(): Promise<void>
}

/** Dev accounts by role, so addresses are the same on every start. */
const ACCOUNT = { developer: 0, apiNode: 9, storage: 8 } as const
/** What the dev network gives each relay's fresh key: gas for its metrics stream. */
const RELAY_FUNDS = 10n ** 18n

/**
 * Starts a complete local network in this process: the embedded chain with
 * the contracts, a tracker (or a DHT entry point), a node daemon with all three APIs, a SQLite
 * storage node and relay nodes; creates a public demo stream, stored.
 * Everything listens on 127.0.0.1.
 *
 * @example
 * ```ts
 * const dev = await startDevNetwork()
 * console.log(dev.endpoints.http, dev.demoStreamId)
 * await dev.stop()
 * ```
 */
export async function startDevNetwork(options: DevNetworkOptions = {}): Promise<DevNetwork> {
  const host = options.host ?? '127.0.0.1'
  const ports = { ...DEFAULT_PORTS, ...options.ports }
  const logger = options.logger ?? createLogger({ level: 'info' }, 'runnel-dev')
  const operatorCount = options.operators ?? 0
  if (!Number.isInteger(operatorCount) || operatorCount < 0 || operatorCount > MAX_DEV_OPERATORS) {
    throw new NodeError(
      'INVALID_CONFIG',
      `operators must be 0 to ${MAX_DEV_OPERATORS} (one dev account each), got ${operatorCount}`,
    )
  }
  const stops: (() => Promise<void>)[] = []
  const stop = async (): Promise<void> => {
    for (const step of stops.splice(0).reverse()) {
      try {
        await step()
      } catch (err) {
        logger.warn({ err }, 'a part of the dev network failed to stop cleanly')
      }
    }
  }
  try {
    const chain = await startDevChain({ host, port: ports.chain })
    stops.push(() => chain.stop())
    const rpcUrl = chain.chain.rpcUrl!
    const keys = chain.chain.accountKeys
    const discovery = options.discovery ?? 'tracker'
    let network: DevNetwork['network']
    if (discovery === 'dht') {
      const entryPoint = await startEntryPoint({ host, port: ports.entryPoint })
      stops.push(() => entryPoint.stop())
      network = { discovery, entryPoints: [entryPoint.url] }
    } else {
      const tracker = new TrackerServer({
        transport: new WebSocketTransport({ host, port: ports.tracker }),
        signer: createNativeSigner(generatePrivateKey()),
        verifier: nativeSignatureVerifier,
      })
      const [trackerUrl] = await tracker.start()
      stops.push(() => tracker.stop())
      network = { discovery, trackers: [trackerUrl!] }
    }

    // Relays get fresh keys, funded here before any node sends: each node's metrics stream costs one transaction.
    const relayKeys = Array.from({ length: options.relayNodes ?? 2 }, () => generatePrivateKey())
    const funder = chain.walletFor(ACCOUNT.storage)
    for (const key of relayKeys) {
      const hash = await funder.sendTransaction({ to: addressFromPrivateKey(key) as `0x${string}`, value: RELAY_FUNDS })
      await chain.publicClient.waitForTransactionReceipt({ hash })
    }
    /** Each node's metrics stream, once created, is stored by the dev storage node (so the explorer has history). */
    const metricsStored: RunnelNode[] = []
    let storageAddress: string | undefined
    const storeMetrics = (node: RunnelNode): void => {
      if (storageAddress === undefined) return void metricsStored.push(node)
      const storage = storageAddress
      void (async () => {
        if (node.metricsStream === undefined || !(await node.metricsStream.whenReady())) return
        await node.client.addStreamToStorageNode(node.metricsStream.streamId, storage as `0x${string}`)
      })().catch((err: unknown) => logger.warn({ err }, "the storage node won't keep a node's metrics stream"))
    }

    const developer = chain.registryFor(ACCOUNT.developer)
    const demo = await developer.createStream('/demo', { description: 'Runnel dev network demo stream' })
    await developer.grantPermission(demo.id, PUBLIC, 'publish')
    await developer.grantPermission(demo.id, PUBLIC, 'subscribe')

    const nodeBase = {
      network: { ...network, listen: { host, port: 0 } },
      chain: {
        rpcUrl,
        contracts: {
          streamRegistry: chain.deployment.streamRegistry,
          storageNodeRegistry: chain.deployment.storageNodeRegistry,
        },
        incentives: chain.deployment.incentives,
      },
    }
    const apiNode = new RunnelNode(
      {
        ...nodeBase,
        privateKey: keys[ACCOUNT.apiNode],
        ...(options.apiKeys !== undefined && { apiKeys: [...options.apiKeys] }),
        plugins: {
          websocket: { host, port: ports.websocket },
          http: { host, port: ports.http },
          mqtt: { host, port: ports.mqtt },
        },
      },
      { logger: logger.child({ node: 'api' }) },
    )
    stops.push(() => apiNode.stop())
    const { endpoints } = await apiNode.start()
    const nodes: RunnelNode[] = [apiNode]
    storeMetrics(apiNode)

    let storageUrl: string | undefined
    if (options.storage !== false) {
      // A fresh chain each start: the stored history starts fresh too.
      const directory = await mkdtemp(join(tmpdir(), 'runnel-dev-storage-'))
      stops.push(() => rm(directory, { recursive: true, force: true }))
      const storageNode = new RunnelNode(
        {
          ...nodeBase,
          privateKey: keys[ACCOUNT.storage],
          plugins: {
            http: { host, port: ports.storage },
            storage: { sqlite: { path: join(directory, 'storage.db') }, retentionIntervalMs: 3_600_000 },
          },
        },
        { logger: logger.child({ node: 'storage' }) },
      )
      stops.push(() => storageNode.stop())
      storageUrl = (await storageNode.start()).endpoints.storage
      nodes.push(storageNode)
      await developer.addStorageNode(demo.id, storageNode.client.address)
      storageAddress = storageNode.client.address
      for (const node of [...metricsStored.splice(0), storageNode]) storeMetrics(node)
    }

    for (const [i, relayKey] of relayKeys.entries()) {
      const relay = new RunnelNode(
        // Relays need no stable address: fresh keys, as many as asked for.
        { ...nodeBase, privateKey: relayKey },
        { logger: logger.child({ node: `relay-${i + 1}` }) },
      )
      stops.push(() => relay.stop())
      await relay.start()
      nodes.push(relay)
      storeMetrics(relay)
      // Relays join the demo stream so its messages cross a real overlay, not one node.
      await relay.client.subscribe(demo.id, () => {})
    }
    // The storage node and the relays carry the demo stream (the storage node once it sees its assignment).
    await demoOverlayFormed(nodes.slice(1), toStreamPartId(demo.id as StreamId, 0), logger)
    const incentivesAs = (account: number): RunnelIncentives =>
      new RunnelIncentives({
        publicClient: chain.publicClient,
        walletClient: chain.walletFor(account),
        addresses: chain.deployment.incentives,
      })
    let sponsorshipId: number | undefined
    const operators: DevOperator[] = []
    if (operatorCount > 0) {
      sponsorshipId = (
        await incentivesAs(ACCOUNT.developer).createSponsorship(
          { streamId: demo.id, ratePerSecond: DEMO_SPONSORSHIP.ratePerSecond },
          DEMO_SPONSORSHIP.funding,
        )
      ).id
    }
    for (let i = 1; i <= operatorCount; i++) {
      const owner = incentivesAs(i)
      const address = await owner.createOperator({ cutBps: 1000, metadata: `dev operator ${i}` })
      await owner.delegate(address, OPERATOR_DELEGATION)
      // The owner's account is its node too: it holds the gas the node's heartbeats and withdrawals cost.
      await owner.setNodes([owner.account])
      await owner.stake(sponsorshipId!, OPERATOR_STAKE)
      const node = new RunnelNode(
        {
          ...nodeBase,
          privateKey: keys[i],
          plugins: {
            operator: {
              operatorAddress: address,
              pollIntervalMs: 5_000,
              heartbeatIntervalMs: 30_000,
              withdrawThreshold: '10',
            },
          },
        },
        { logger: logger.child({ node: `operator-${i}` }) },
      )
      stops.push(() => node.stop())
      await node.start()
      nodes.push(node)
      storeMetrics(node)
      operators.push({ address, owner: owner.account, node })
    }
    let explorerUrl: string | undefined
    let explorer: ExplorerServer | undefined
    if (options.explorer !== false) {
      const explorerClient = createRunnelClient({
        network,
        chain: { ...nodeBase.chain, market: chain.deployment.market },
      })
      // The product page buys with up to two dev accounts no operator uses (7, then 6): keys of this chain only.
      const devAccounts = [MAX_DEV_OPERATORS, MAX_DEV_OPERATORS - 1]
        .filter((i) => i > operatorCount)
        .map((i) => ({ label: `dev-${i}`, privateKey: keys[i]! }))
      explorer = new ExplorerServer(explorerClient, { host, port: ports.explorer, devAccounts })
      const started = explorer
      stops.push(async () => {
        await started.stop()
        await explorerClient.destroy()
      })
      explorerUrl = await explorer.start()
    }
    return {
      chain,
      rpcUrl,
      discovery,
      trackerUrl: network.discovery === 'tracker' ? network.trackers[0] : undefined,
      entryPointUrl: network.discovery === 'dht' ? network.entryPoints[0] : undefined,
      network,
      apiNode,
      endpoints,
      devPrivateKey: keys[ACCOUNT.developer]!,
      devAddress: developer.account.toLowerCase(),
      demoStreamId: demo.id,
      storageUrl,
      sponsorshipId,
      operators,
      explorerUrl,
      explorer,
      nodes,
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * Waits (up to 30 s) until every node carrying the demo stream has a neighbour there: before that, a message published
 * to it could reach the relays and not the storage node, and the history would miss it. The network counts as
 * ready only then.
 */
async function demoOverlayFormed(carriers: readonly RunnelNode[], streamPartId: StreamPartId, logger: Logger) {
  if (carriers.length < 2) return
  const signal = AbortSignal.timeout(30_000)
  try {
    await Promise.all(carriers.map((node) => node.client.networkNode.join(streamPartId, { minNeighbors: 1, signal })))
  } catch (err) {
    logger.warn({ err }, "the demo stream's overlay hasn't formed yet: its first messages may miss the storage node")
  }
}
