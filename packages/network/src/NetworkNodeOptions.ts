import { DEFAULT_PEER_CONNECTION_OPTIONS, type PeerConnectionOptions } from './connection/PeerConnection.js'
import { resolveInboundCaps, type InboundCaps, type ResolvedInboundCaps } from './connection/AddressCaps.js'
import { DEFAULT_MAX_CONNECTIONS } from './connection/ConnectionManager.js'
import type { DhtNodeOptions } from './dht/dhtOptions.js'
import type { DiscoveryMode } from './discovery/Discovery.js'
import { parseNodeLocation, ProtocolError, type NodeLocation, type PlacementConstraint } from '@runnel/protocol'
import { NetworkError } from './errors.js'
import { resolveDegrees } from './overlay/degrees.js'
import { resolveNeighborScoring, type NeighborScoringOptions } from './overlay/NeighborScores.js'
import type { NodeId } from './identity.js'
import { resolveRelayLimits, type RelayLimitOptions } from './overlay/RelayLimits.js'

/** Settings of a node; every one has a default. Its collaborators are `NetworkNodeComponents`. */
export interface NetworkNodeOptions {
  /** 'full' relays; 'light' uses proxies and never relays. Default 'full'. */
  readonly kind?: 'full' | 'light'
  /**
   * How the node finds peers: 'tracker' asks the trackers, 'dht' (trackerless) finds a stream part's entry points
   * in a Kademlia DHT. Default 'tracker' when `trackers` are given, else 'dht'.
   */
  readonly discovery?: DiscoveryMode
  /** Tracker mode: tracker addresses; a stream part's tracker is chosen by hashing its id over this list. */
  readonly trackers?: readonly string[]
  /** DHT mode: transport addresses of nodes to join the DHT through; several, and may include this node's own. */
  readonly entryPoints?: readonly string[]
  /** DHT mode: settings of the DHT (entry points are the list above). */
  readonly dht?: DhtSettings
  /**
   * Most connections kept; past it the least recently active one that no overlay or DHT request holds is closed.
   * Default 64 in dht mode (the DHT connects to many nodes), unlimited in tracker mode.
   */
  readonly maxConnections?: number
  /**
   * Caps on incoming connections per IP address and per /24 (/48 for IPv6), checked before the handshake; one past
   * a cap is refused with a goodbye naming it. Default 16 per address and 32 per subnet, loopback and private
   * addresses exempt (see `InboundCaps`).
   */
  readonly inbound?: InboundCaps
  /** Neighbours a full node aims for per stream part. Default 4. */
  readonly targetDegree?: number
  /** Most neighbours a full node accepts per stream part. Default the larger of 8 and `targetDegree`; at most 32. */
  readonly maxDegree?: number
  /** Verify every received message's signature and drop invalid ones. Default true. */
  readonly verifySignatures?: boolean
  /** Full nodes: serve light nodes as a proxy. Default true. */
  readonly acceptProxies?: boolean
  /** Full nodes: most light nodes served per stream part. Default 64. */
  readonly maxProxyClients?: number
  /** Light nodes: how many full nodes to use as proxies per stream part. Default 2. */
  readonly proxyCount?: number
  /** Messages that reached fewer than `targetDegree` peers are re-offered to peers joining within this window. Default 10 s. */
  readonly propagationWindowMs?: number
  /** Most messages kept for that, per stream part. Default 256. */
  readonly propagationBufferSize?: number
  /** Largest accepted StreamMessage, in bytes. Default 1 MiB. */
  readonly maxMessageSize?: number
  /** A neighbour or proxy request unanswered for this long is abandoned. Default 5 s. */
  readonly requestTimeoutMs?: number
  /** How often a node short of neighbours asks its tracker again. Default 2 s. */
  readonly statusRetryMs?: number
  readonly peer?: Partial<PeerConnectionOptions>
  /**
   * ATTACK SIMULATION ONLY: a free rider. The node joins stream parts and takes their messages (local listeners
   * get them) but relays none it receives to neighbours or proxy clients; its own broadcasts still go out. Tests
   * of the incentives (an operator flagged and kicked for not serving) and of dropper attacks use it. Default false.
   */
  readonly dropRelayedMessages?: boolean
  /**
   * Full nodes: score neighbours by what they relay and rotate out those that relay nothing (docs/network.md,
   * "Neighbour scoring"). `true` uses the defaults (`DEFAULT_NEIGHBOR_SCORING`); an object overrides some. While a
   * stream part carries messages, the node holds one message in `probeEvery` back from one neighbour in turn and sends
   * it late unless that neighbour relays it first. Default false.
   */
  readonly neighborScoring?: boolean | Partial<NeighborScoringOptions>
  /**
   * Full nodes: neighbour slots kept for peers the node picked itself (from its tracker or the DHT), against eclipse
   * attacks that fill every slot with requests: others' requests take at most `maxDegree` minus this many slots, and
   * the node keeps looking until it has this many neighbours of its own choosing. Default 0 (no slots kept).
   */
  readonly minOwnNeighbors?: number
  /**
   * Peers to ask first among the candidates the tracker or the DHT gives (for example the nodes of staked operators,
   * when a stream's metadata asks for them). Called often: keep it a lookup.
   *
   * @example
   * ```ts
   * { preferNeighbors: (nodeId, streamPartId) => stakedOperatorNodes.has(nodeId) }
   * ```
   */
  readonly preferNeighbors?: (nodeId: NodeId, streamPartId: string) => boolean

  /**
   * Where this node runs, told to every peer in the handshake: stream parts with a placement constraint take only
   * nodes whose location matches (see `JoinOptions.placement`). The node daemon fills it from its configuration or
   * a GeoIP lookup. Country: an ISO 3166-1 alpha-2 code; region: an operator-chosen name. Default unknown.
   *
   * @example
   * ```ts
   * { trackers: ['wss://tracker.example.com:30300'], location: { country: 'DE', region: 'eu-central' } }
   * ```
   */
  readonly location?: NodeLocation
  /**
   * Rate limits on new messages per publisher and per stream part (messages and bytes per second, token buckets):
   * a message over them is dropped, counted in `rateLimited` and not relayed, and a neighbour that keeps sending
   * far beyond them is disconnected ('flooding'). The node's own publishes count too (`broadcast` throws
   * `RATE_LIMITED`). Each setting has a generous default (see `RelayLimitOptions`); `false` turns the limits off
   * (a node that trusts all its peers, or a simulated flooder).
   *
   * @example
   * ```ts
   * { relayLimits: { publisherMessagesPerSecond: 200, streamPartMessagesPerSecond: 1_000 } }
   * ```
   */
  readonly relayLimits?: Partial<RelayLimitOptions> | false
  /**
   * The software this node runs, told to whoever asks it a node-info query (`queryNodeInfo`), e.g.
   * "runnel-node/0.1.0"; at most 64 characters. Default empty.
   */
  readonly version?: string
}

/** {@link NetworkNodeOptions} with every default filled in. */
export type ResolvedNetworkNodeOptions = Required<
  Omit<
    NetworkNodeOptions,
    'peer' | 'dht' | 'neighborScoring' | 'preferNeighbors' | 'location' | 'relayLimits' | 'inbound'
  >
> & {
  peer: PeerConnectionOptions
  dht: DhtSettings
  /** Undefined when scoring is off. */
  neighborScoring: NeighborScoringOptions | undefined
  preferNeighbors: ((nodeId: NodeId, streamPartId: string) => boolean) | undefined
  /** Normalized (upper-case country, lower-case region); undefined when unknown. */
  location: NodeLocation | undefined
  relayLimits: RelayLimitOptions | false
  inbound: ResolvedInboundCaps
}

/** DHT settings a node may give (see `DhtNodeOptions`; its entry points are `entryPoints`); each has a default. */
export type DhtSettings = Omit<DhtNodeOptions, 'entryPoints'>

/**
 * Fills in the defaults and checks the settings.
 *
 * @throws {@link NetworkError} `INVALID_OPTIONS` for degrees out of range, an unknown discovery, no trackers in
 *   tracker mode, no entry points in dht mode, or a malformed location
 */
export function resolveNetworkNodeOptions(options: NetworkNodeOptions): ResolvedNetworkNodeOptions {
  const { targetDegree, maxDegree } = resolveDegrees(options)
  const location = resolveLocation(options.location)
  const discovery = options.discovery ?? (options.trackers === undefined ? 'dht' : 'tracker')
  if (discovery !== 'tracker' && discovery !== 'dht') {
    throw new NetworkError('INVALID_OPTIONS', `discovery must be 'tracker' or 'dht', got ${JSON.stringify(discovery)}`)
  }
  if (
    options.maxConnections !== undefined &&
    !(Number.isInteger(options.maxConnections) && options.maxConnections >= 1)
  ) {
    throw new NetworkError(
      'INVALID_OPTIONS',
      `maxConnections must be a positive integer, got ${options.maxConnections}`,
    )
  }
  if (discovery === 'tracker' && (options.trackers === undefined || options.trackers.length === 0)) {
    throw new NetworkError('INVALID_OPTIONS', 'at least one tracker address is required (option trackers)')
  }
  if (discovery === 'dht' && (options.entryPoints === undefined || options.entryPoints.length === 0)) {
    throw new NetworkError(
      'INVALID_OPTIONS',
      'at least one entry point address is required for trackerless discovery (option entryPoints)',
    )
  }
  return {
    kind: options.kind ?? 'full',
    discovery,
    trackers: options.trackers ?? [],
    entryPoints: options.entryPoints ?? [],
    dht: options.dht ?? {},
    inbound: resolveInboundCaps(options.inbound),
    maxConnections: options.maxConnections ?? (discovery === 'dht' ? DEFAULT_MAX_CONNECTIONS : Infinity),
    targetDegree,
    maxDegree,
    verifySignatures: options.verifySignatures ?? true,
    acceptProxies: options.acceptProxies ?? true,
    maxProxyClients: options.maxProxyClients ?? 64,
    proxyCount: options.proxyCount ?? 2,
    propagationWindowMs: options.propagationWindowMs ?? 10_000,
    propagationBufferSize: options.propagationBufferSize ?? 256,
    maxMessageSize: options.maxMessageSize ?? 1024 * 1024,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    statusRetryMs: options.statusRetryMs ?? 2_000,
    peer: { ...DEFAULT_PEER_CONNECTION_OPTIONS, ...options.peer },
    dropRelayedMessages: options.dropRelayedMessages ?? false,
    neighborScoring:
      options.neighborScoring === undefined || options.neighborScoring === false
        ? undefined
        : resolveNeighborScoring(options.neighborScoring === true ? {} : options.neighborScoring),
    minOwnNeighbors: resolveMinOwnNeighbors(options.minOwnNeighbors, maxDegree),
    preferNeighbors: options.preferNeighbors,
    relayLimits: options.relayLimits === false ? false : resolveRelayLimits(options.relayLimits ?? {}),
    location,
    version: resolveVersion(options.version),
  }
}

function resolveVersion(version: string | undefined): string {
  if (version === undefined) return ''
  if (typeof version !== 'string' || version.length > 64 || !/^[\x20-\x7e]*$/.test(version)) {
    throw new NetworkError('INVALID_OPTIONS', 'version must be at most 64 printable ASCII characters')
  }
  return version
}

function resolveLocation(location: NodeLocation | undefined): NodeLocation | undefined {
  if (location === undefined) return undefined
  try {
    const parsed = parseNodeLocation(location)
    return parsed.country === undefined && parsed.region === undefined ? undefined : parsed
  } catch (err) {
    throw new NetworkError('INVALID_OPTIONS', err instanceof ProtocolError ? err.message : String(err), { cause: err })
  }
}

function resolveMinOwnNeighbors(value: number | undefined, maxDegree: number): number {
  if (value === undefined) return 0
  if (!Number.isInteger(value) || value < 0 || value > maxDegree) {
    throw new NetworkError(
      'INVALID_OPTIONS',
      `minOwnNeighbors must be an integer in 0..maxDegree (${maxDegree}), got ${value}`,
    )
  }
  return value
}

/** Settings of one `join()`. */
export interface JoinOptions {
  /** Resolve only once this many neighbours (or proxies, on a light node) are connected. Default 0. */
  readonly minNeighbors?: number
  /**
   * Also resolve, with fewer than `minNeighbors`, once the join has settled: the tracker has answered and every peer
   * it suggested has accepted or refused (or timed out). The first node of a stream part then joins as soon as the
   * tracker tells it it is alone, instead of waiting for the signal. Default false.
   */
  readonly orWhenSettled?: boolean
  readonly signal?: AbortSignal
  /**
   * Where the stream part's data may be carried, from its stream's metadata (`placement`, checked with
   * `parsePlacement`): the node takes as neighbours and proxies only full nodes whose location matches, tells its
   * tracker the constraint so it suggests no others, and reports to `trackers` instead of its own when the
   * constraint names some. A node outside it refuses to join (`OUTSIDE_PLACEMENT`). A later join with another
   * constraint replaces it, dropping neighbours now outside. Default none.
   *
   * @example
   * ```ts
   * await node.join(streamPartId, { placement: { countries: ['EU'] }, minNeighbors: 1 })
   * ```
   */
  readonly placement?: PlacementConstraint
}
