import { NetworkError } from '../errors.js'
import { MAX_ENTRY_POINTS_PER_SUBNET } from '../discovery/entryPoints.js'
import type { RecordRefusal } from './records.js'

/** Settings of a {@link DhtNode}. Collaborators are in {@link DhtNodeComponents}. */
export interface DhtNodeOptions {
  /**
   * Transport addresses of nodes to join through; several, any may be down.
   * May include the node's own address (skipped), so every node of a network
   * can share one list.
   */
  readonly entryPoints: readonly string[]
  /**
   * Transport addresses of nodes this node knew in an earlier run (what
   * {@link DhtNode.knownPeers} returned then), dialled with the entry points
   * on every join attempt: a restarted node rejoins through them even when
   * every entry point is down or restarted empty. The first
   * {@link MAX_KNOWN_PEERS} are used. Default none.
   */
  readonly knownPeers?: readonly string[]
  /** Bucket size and lookup result size. Default 8. */
  readonly k?: number
  /** Requests in flight per lookup. Default 3. */
  readonly alpha?: number
  /** How long one request may take, connecting included. Default 5 s. */
  readonly requestTimeoutMs?: number
  /**
   * Most contacts per bucket from one /24 (IPv4) or /48 (IPv6), by the
   * address their connection came from. Default 2.
   */
  readonly maxPerSubnetPerBucket?: number
  /**
   * Most nodes of one /24 (IPv4) or /48 (IPv6), by their advertised address,
   * among a lookup path's candidates and in a lookup's result: many
   * identities from one range can't make up a lookup's closest nodes (where
   * records are stored and looked for). Default 2.
   */
  readonly maxPerSubnetPerLookup?: number
  /**
   * Disjoint lookup paths (S/Kademlia): each lookup runs this many paths
   * that share no node, merges their results, and a record is stored at
   * every path's closest nodes, so nodes that lie in lookup answers (naming
   * only each other) must sit on every path to hide a key's honest holders.
   * Costs about this many times the requests per lookup. Default 1.
   */
  readonly lookupPaths?: number
  /**
   * Most records under one key stored from one /24 (IPv4) or /48 (IPv6), by
   * the address the storing connection came from: many identities from one
   * range can't fill a key's `maxRecordsPerKey` and keep honest records out.
   * Default 4.
   */
  readonly maxRecordsPerSubnetPerKey?: number
  /**
   * Trackerless discovery: most entry points of a stream part believed from
   * one /24 (IPv4) or /48 (IPv6), by the address in their records (private
   * and loopback addresses exempt). Default 2.
   */
  readonly maxEntryPointsPerSubnet?: number
  /**
   * Loopback addresses (127.0.0.0/8, ::1, localhost) escape the subnet cap,
   * so one machine can run a whole network. Default true. Simulator
   * addresses always escape it.
   */
  readonly exemptLoopback?: boolean
  /** Records kept per key (one per owner). Default 32. */
  readonly maxRecordsPerKey?: number
  /** Records kept in all for others. Default 10,000. */
  readonly maxRecords?: number
  /** Longest a record is kept after it was stored; later expiries are refused. Default 1 h. */
  readonly maxRecordTtlMs?: number
  /** A bucket no lookup went through for this long is refreshed with a lookup. Default 10 min. */
  readonly bucketRefreshMs?: number
  /** Requests accepted per second from one peer (burst: twice as many). Default 50. */
  readonly maxRequestsPerSecond?: number
  /**
   * While no entry point answers, the window to try them again in: a random delay within it, the window doubling with
   * each failed attempt up to 60 s. Default 2 s.
   */
  readonly joinRetryMs?: number
  /**
   * Most WebRTC-only contacts (nodes whose addresses are all `webrtc:`) in the
   * routing table. Each is kept only while connected, and its connection is
   * locked meanwhile, so whoever the table names it to can be signalled
   * through this node. Default 16.
   */
  readonly maxWebRtcContacts?: number
}

export type ResolvedDhtNodeOptions = Required<DhtNodeOptions>

/** Most known peers a node dials on a join attempt, and most {@link DhtNode.knownPeers} returns. */
export const MAX_KNOWN_PEERS = 32

export const DEFAULT_DHT_NODE_OPTIONS: Omit<ResolvedDhtNodeOptions, 'entryPoints'> = {
  knownPeers: [],
  k: 8,
  alpha: 3,
  requestTimeoutMs: 5_000,
  maxPerSubnetPerBucket: 2,
  maxPerSubnetPerLookup: 2,
  lookupPaths: 1,
  maxRecordsPerSubnetPerKey: 4,
  maxEntryPointsPerSubnet: MAX_ENTRY_POINTS_PER_SUBNET,
  exemptLoopback: true,
  maxRecordsPerKey: 32,
  maxRecords: 10_000,
  maxRecordTtlMs: 60 * 60_000,
  bucketRefreshMs: 10 * 60_000,
  maxRequestsPerSecond: 50,
  joinRetryMs: 2_000,
  maxWebRtcContacts: 16,
}

/**
 * Fills in defaults and checks the settings.
 *
 * @throws {@link NetworkError} `INVALID_OPTIONS` naming the bad setting
 */
export function resolveDhtNodeOptions(options: DhtNodeOptions): ResolvedDhtNodeOptions {
  const resolved: ResolvedDhtNodeOptions = {
    ...DEFAULT_DHT_NODE_OPTIONS,
    ...withoutUndefined(options),
    entryPoints: options.entryPoints,
  }
  if (!Array.isArray(resolved.entryPoints) || resolved.entryPoints.some((entry) => typeof entry !== 'string')) {
    throw new NetworkError('INVALID_OPTIONS', 'entryPoints must be a list of transport addresses')
  }
  if (!Array.isArray(resolved.knownPeers) || resolved.knownPeers.some((peer) => typeof peer !== 'string')) {
    throw new NetworkError('INVALID_OPTIONS', 'knownPeers must be a list of transport addresses')
  }
  const positiveIntegers = [
    'k',
    'alpha',
    'maxPerSubnetPerBucket',
    'maxPerSubnetPerLookup',
    'lookupPaths',
    'maxRecordsPerSubnetPerKey',
    'maxEntryPointsPerSubnet',
    'maxRecordsPerKey',
    'maxRecords',
  ] as const
  for (const name of positiveIntegers) {
    const value = resolved[name]
    if (!Number.isInteger(value) || value < 1) {
      throw new NetworkError('INVALID_OPTIONS', `${name} must be a positive integer, got ${String(value)}`)
    }
  }
  if (!Number.isInteger(resolved.maxWebRtcContacts) || resolved.maxWebRtcContacts < 0) {
    throw new NetworkError(
      'INVALID_OPTIONS',
      `maxWebRtcContacts must be a non-negative integer, got ${String(resolved.maxWebRtcContacts)}`,
    )
  }
  const positiveNumbers = [
    'requestTimeoutMs',
    'maxRecordTtlMs',
    'bucketRefreshMs',
    'maxRequestsPerSecond',
    'joinRetryMs',
  ] as const
  for (const name of positiveNumbers) {
    const value = resolved[name]
    if (!(typeof value === 'number' && value > 0)) {
      throw new NetworkError('INVALID_OPTIONS', `${name} must be a positive number, got ${String(value)}`)
    }
  }
  return resolved
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Why a DHT message (or part of one) was refused; counted in {@link DhtMetrics.refused}. */
export type DhtRefusal =
  /** A key that isn't 20 bytes. */
  | 'bad-key'
  /** A descriptor that doesn't decode, is a light node's or has no address. */
  | 'bad-descriptor'
  /** More descriptors (or records) in an answer than asked for. */
  | 'too-many-descriptors'
  | 'too-many-records'
  /** An answer nobody asked for, or from another peer than the one asked. */
  | 'unknown-request'
  /** The peer sent requests faster than `maxRequestsPerSecond`. */
  | 'rate-limited'

/** What {@link DhtMetrics.refused} counts by. */
export type DhtRefusalKey =
  DhtRefusal | `record-${RecordRefusal | 'stale-sequence' | 'key-full' | 'subnet-full' | 'store-full' | 'not-storing'}`

/** Counters since start; a snapshot on every read. */
export interface DhtMetrics {
  /** Lookups run (findClosest, storeRecord, findRecords, joins and refreshes). */
  readonly lookups: number
  /** Requests those lookups sent, in all. */
  readonly lookupQueries: number
  /** Sum over lookups of their longest answer chain: divide by `lookups` for mean hops. */
  readonly lookupHops: number
  /** Requests sent (any kind). */
  readonly requestsSent: number
  /** Requests answered by this node. */
  readonly requestsServed: number
  /** Requests that got no answer in time. */
  readonly timeouts: number
  /** Requests that failed otherwise (could not connect, connection closed). */
  readonly failures: number
  /**
   * Messages or parts refused, by reason: {@link DhtRefusal}, and
   * `record-<reason>` for records refused on store or find ({@link RecordRefusal},
   * e.g. `record-owner-mismatch` for a forged signature, or `record-stale-sequence`).
   */
  readonly refused: Readonly<Partial<Record<DhtRefusalKey, number>>>
  readonly routingTableSize: number
  /** Records held for others. */
  readonly records: number
  /** Connections from which the subnet cap kept a contact out of the routing table. */
  readonly subnetCapped: number
  /** WebRTC-only contacts in the routing table, each connection locked (at most `maxWebRtcContacts`). */
  readonly webRtcContacts: number
}
