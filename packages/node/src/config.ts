import { readFile } from 'node:fs/promises'
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '@runnel/client'
import { parseCountryCode, parseRegion, shortMessageOf } from '@runnel/protocol'
import { z } from 'zod'
import { NodeError } from './errors.js'
import { dataUnionJoinPluginSchema } from './plugins/dataUnionJoin/config.js'
import { dataUnionStatePluginSchema } from './plugins/dataUnionState/config.js'

/** The ports `runnel dev` and a default node use; apps and docs can rely on them. */
export const DEFAULT_PORTS = {
  websocket: 7170,
  http: 7171,
  mqtt: 1883,
  /** The HTTP API (history) of the storage node `runnel dev` starts. */
  storage: 7172,
  tracker: 30300,
  /** The DHT entry point `runnel dev --discovery dht` starts where the tracker would be. */
  entryPoint: 30301,
  chain: 8545,
  /** The Network Explorer `runnel dev` serves. */
  explorer: 7180,
} as const

const hexKey = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'a 32-byte hex private key (64 hex digits, 0x optional)')
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'an 0x-prefixed 20-byte hex address')
const host = z.string().min(1)
const port = z.number().int().min(0).max(65535)
const wsUrl = z.string().regex(/^wss?:\/\/\S+$/, 'a ws:// or wss:// URL')

/**
 * The settings a node shares with every client of the network (the CLI's `--rpc`, `--tracker`, its config file's
 * `contracts`): checked by these schemas wherever they are given, so the CLI and the daemon accept the same values.
 *
 * @example
 * ```ts
 * networkSettingSchemas.rpcUrl.safeParse('localhost:8545').success // false: no http:// or https://
 * ```
 */
export const networkSettingSchemas = {
  /** The chain's JSON-RPC endpoint: an http:// or https:// URL. */
  rpcUrl: z.url({ protocol: /^https?$/ }),
  /** At least one tracker, each a ws:// or wss:// URL. */
  trackers: z.array(wsUrl).min(1),
  /** How nodes find each other: through trackers, or through the DHT (no tracker). */
  discovery: z.enum(['tracker', 'dht'], "'tracker' or 'dht'"),
  /** At least one DHT entry point, each a ws:// or wss:// URL (a node may list its own: it is skipped). */
  entryPoints: z.array(wsUrl).min(1),
  /** The registry contracts' addresses. */
  contracts: z.strictObject({ streamRegistry: address, storageNodeRegistry: address }),
} as const

const listenFields = { host: host.default('127.0.0.1') }
/** At least 100 ms: 0, which Node.js and aedes read as "never", would let a slow client hold a connection for good. */
const timeoutMs = z.number().int().min(100).max(3_600_000)
/** Connections open at once on one listener; one more is closed as it arrives, those open are unaffected. */
const maxConnections = z.number().int().min(1).max(1_000_000).default(10_000)

const websocketPlugin = z.strictObject({
  ...listenFields,
  port: port.default(DEFAULT_PORTS.websocket),
  /** Ping each API connection this often; one that misses a pong is closed. */
  pingIntervalMs: z.number().int().min(1_000).default(30_000),
  /** The upgrade request must have arrived whole this long after connecting. */
  headersTimeoutMs: timeoutMs.default(10_000),
  maxConnections,
  /** Wrap each message as `{ content, metadata }` unless a request says otherwise (`?payloadMetadata=false`). */
  payloadMetadata: z.boolean().default(false),
})

const httpPlugin = z.strictObject({
  ...listenFields,
  port: port.default(DEFAULT_PORTS.http),
  /** Largest NDJSON batch body (`Content-Type: application/x-ndjson`), in bytes; each line is still held to `maxPayloadBytes`. */
  maxBatchBytes: z
    .number()
    .int()
    .min(1)
    .max(256 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  /** Most messages in one NDJSON batch. */
  maxBatchMessages: z.number().int().min(1).max(1_000_000).default(10_000),
  /** A request's headers must have arrived whole this long after it began. */
  headersTimeoutMs: timeoutMs.default(10_000),
  /** A request, headers and body, must have arrived whole this long after it began. */
  requestTimeoutMs: timeoutMs.default(30_000),
  /** A connection with a request or response under way and no bytes moving either way for this long is closed. */
  idleTimeoutMs: timeoutMs.default(60_000),
  /** A connection is kept open this long after a response for the client's next request. */
  keepAliveTimeoutMs: timeoutMs.default(5_000),
  maxConnections,
})

const mqttPlugin = z.strictObject({
  ...listenFields,
  port: port.default(DEFAULT_PORTS.mqtt),
  /** Topics are stream ids below this prefix: with `0xabc…` set, topic `sensors` is stream `0xabc…/sensors`. */
  streamIdDomain: z.string().min(1).optional(),
  payloadMetadata: z.boolean().default(false),
  /**
   * What a QoS 1 PUBACK means: `accepted` (default), the node took the message and sent it on; `stored`, a storage
   * node of the stream also confirmed committing it (no PUBACK otherwise: the client's own retry takes over).
   */
  puback: z.enum(['accepted', 'stored']).default('accepted'),
  /** A connection must have sent its CONNECT packet this long after connecting. */
  connectTimeoutMs: timeoutMs.default(10_000),
  maxConnections,
})

/**
 * How a storage node repairs itself from the other storage nodes of its
 * streams: hole fill along publisher chains, and periodic anti-entropy rounds.
 * Work is bounded per minute (messages fetched, buckets compared). See
 * docs/node.md, "Repair between storage nodes".
 */
const repairSection = z.strictObject({
  enabled: z.boolean().default(true),
  /** Wait after a hole shows before checking the store again and fetching it from a peer. */
  holeGraceMs: z.number().int().min(0).max(60_000).default(1_000),
  /** Publisher chains whose last stored ref is kept in memory. */
  maxTrackedChains: z.number().int().min(1).default(10_000),
  /** Holes waiting to be filled; further ones are dropped (and counted) for anti-entropy to find. */
  maxPendingHoles: z.number().int().min(1).default(1_000),
  /** Anti-entropy rounds run this often; 0 turns the timer off (a round can still be run on demand). */
  intervalMs: z.number().int().min(0).default(60_000),
  /** How far back a round compares, newest first. */
  windowMs: z
    .number()
    .int()
    .min(1_000)
    .default(6 * 3_600_000),
  /** The newest stretch a round leaves out: messages still on their way differ legitimately. */
  settleMs: z.number().int().min(0).default(10_000),
  /** Width of the buckets compared. */
  bucketMs: z.number().int().min(1).default(60_000),
  /** Buckets compared per minute, over all streams and peers. */
  maxBucketsPerMinute: z.number().int().min(1).default(5_000),
  /** Messages fetched from peers per minute, hole fill and anti-entropy together. */
  maxMessagesPerMinute: z.number().int().min(1).default(3_000_000),
  /** A differing bucket with more messages than this on the peer is compared in narrower buckets first. */
  maxBucketFetch: z.number().int().min(1).default(5_000),
  /**
   * Worker threads that check the signatures of fetched messages (libsecp256k1, ~50 µs a message, what bounds
   * catch-up). 0 checks them on the event loop's thread. Default: the CPUs, 1 to 4.
   */
  workers: z.number().int().min(0).max(64).optional(),
  /** Each request to a peer must complete within this. */
  requestTimeoutMs: z.number().int().min(100).default(30_000),
})

const storagePlugin = z.strictObject({
  backend: z.enum(['sqlite', 'postgres']).default('sqlite'),
  sqlite: z
    .strictObject({
      /** The database file; created if missing. */
      path: z.string().min(1).default('runnel-storage.db'),
    })
    .prefault({}),
  postgres: z
    .strictObject({
      url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// connection URL'),
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits and _')
        .default('runnel'),
    })
    .optional(),
  /** The history API URL registered on chain for clients. Default: the HTTP API's URL. */
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Register this node (and its URL) in the storage node registry at start. */
  register: z.boolean().default(true),
  /** Retention applies each stream's `storageDays` (default below) this often. */
  retentionIntervalMs: z.number().int().min(1_000).default(3_600_000),
  defaultStorageDays: z.number().int().min(1).default(365),
  /** At most one round of signed receipts per this many ms; the first commit after a quiet interval goes at once. */
  receiptIntervalMs: z.number().int().min(1).max(10_000).default(5),
  /** Threshold key custody (docs/encryption.md): take publishers' key shares and hand them to permitted subscribers. */
  custody: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Share requests answered per requester per sliding minute. */
      maxRequestsPerMinute: z.number().int().min(1).default(60),
      /** Shares taken per publisher per sliding minute. */
      maxDepositsPerMinute: z.number().int().min(1).default(600),
      /** How far a share request's timestamp may be from this node's clock. */
      maxRequestAgeMs: z.number().int().min(1_000).default(60_000),
    })
    .prefault({}),
  repair: repairSection.prefault({}),
})

/**
 * Makes the node one of an operator's nodes (docs/node.md, "Operator plugin"): it relays the stream parts of the
 * operator's sponsorships assigned to it, sends heartbeats, collects earnings and reviews flags.
 */
const operatorPlugin = z.strictObject({
  /** The operator contract whose owner listed this node's address with `setNodes`. */
  operatorAddress: address,
  /** Read the operator's sponsorships, nodes, earnings and review requests this often. */
  pollIntervalMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** Send a heartbeat (a transaction with this node's reachable addresses) this often. */
  heartbeatIntervalMs: z.number().int().min(100).max(86_400_000).default(300_000),
  /** A node whose last heartbeat is older than this many heartbeat intervals is taken for dead: its parts move. */
  staleAfterHeartbeats: z.number().int().min(2).max(100).default(3),
  /** Nodes of the operator that relay each stream part. */
  replicas: z.number().int().min(1).max(16).default(1),
  /** Collect earnings once the operator's unwithdrawn earnings pass this many RNL (a decimal string). */
  withdrawThreshold: z
    .string()
    .regex(/^\d{1,30}(\.\d{1,18})?$/, 'an RNL amount as a decimal string, e.g. "100" or "2.5"')
    .default('100'),
  /** Addresses announced in heartbeats (where other nodes reach this one). Default: the network listener's. */
  publicAddresses: z.array(z.string().min(1).max(256)).min(1).max(8).optional(),
  /** Blocks looked back for review requests and heartbeats at start. */
  lookbackBlocks: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Reviewing flags this operator was picked for: inspect the flagged operator's nodes and vote. */
  review: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** How long an inspection counts what the flagged operator's nodes relay. */
      windowMs: z.number().int().min(500).max(600_000).default(30_000),
      /** Fewer messages than this on the stream in the window is no evidence either way: the vote is keep. */
      minMessages: z.number().int().min(1).max(1_000_000).default(5),
      /** Kick when the flagged operator's nodes relayed less than this share of the messages the stream carried. */
      kickBelowShare: z.number().min(0).max(1).default(0.1),
    })
    .prefault({}),
  /**
   * Inspecting the other operators of this operator's sponsorships unasked, and flagging one that relays nothing in
   * two inspections in a row (the `review` settings judge, as for a vote).
   */
  autoFlag: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** One inspection about this often (±25% at random, so operators don't inspect in lockstep). */
      intervalMs: z.number().int().min(500).max(86_400_000).default(600_000),
      /** After an inspection found too little relayed, inspect again this much later before flagging. */
      confirmDelayMs: z.number().int().min(0).max(3_600_000).default(60_000),
      /** Flags sent at most in any hour (each locks the flag stake until its vote). */
      maxFlagsPerHour: z.number().int().min(1).max(100).default(2),
    })
    .prefault({}),
})

/** `true` means "on, with defaults"; `false` or absent means off. */
function plugin<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === true ? {} : value === false ? undefined : value), schema.optional())
}

/**
 * The DHT's tunables (dht mode only); each has the network's default when absent. See `DhtNodeOptions` in
 * `@runnel/network`.
 */
const dhtSection = z.strictObject({
  /** Bucket size and lookup result size. */
  k: z.number().int().min(2).max(64).optional(),
  /** Requests in flight per lookup. */
  alpha: z.number().int().min(1).max(16).optional(),
  /** A DHT request unanswered this long counts as failed. */
  requestTimeoutMs: z.number().int().min(100).max(60_000).optional(),
  /** Most contacts per /24 (IPv4) or /64 (IPv6) subnet in one bucket; loopback is exempt. */
  maxPerSubnetPerBucket: z.number().int().min(1).max(64).optional(),
  /** Most lookup candidates (and results) from one /24 or /48; loopback is exempt. */
  maxPerSubnetPerLookup: z.number().int().min(1).max(64).optional(),
  /** Disjoint lookup paths (S/Kademlia); about this many times the requests per lookup. */
  lookupPaths: z.number().int().min(1).max(8).optional(),
  /** Most records under one key stored from one /24 or /48. */
  maxRecordsPerSubnetPerKey: z.number().int().min(1).max(10_000).optional(),
  /** Most entry points of a stream part believed from one /24 or /48; loopback and private addresses are exempt. */
  maxEntryPointsPerSubnet: z.number().int().min(1).max(64).optional(),
  /** Most records kept per key for others. */
  maxRecordsPerKey: z.number().int().min(1).max(10_000).optional(),
  /** The longest a record stored for another node lives. */
  maxRecordTtlMs: z.number().int().min(1_000).max(86_400_000).optional(),
  /** How often a bucket without lookups is refreshed. */
  bucketRefreshMs: z.number().int().min(1_000).max(86_400_000).optional(),
  /**
   * Keep the DHT contacts in this file (saved every minute and on stop), so a restart rejoins through them even when
   * every entry point is down. Default: none (the entry points only).
   */
  peersFile: z.string().min(1).optional(),
})

const iceUrl = z.string().regex(/^(stun|stuns|turn|turns):\S+$/, 'a stun:, stuns:, turn: or turns: URL')

/** WebRTC beside the WebSocket server, so browser full nodes (and nodes without a server) can be dialled. */
const webrtcSection = z.strictObject({
  /** STUN/TURN servers for ICE. Default none: host candidates only. */
  iceServers: z
    .array(
      z.strictObject({
        urls: z.union([iceUrl, z.array(iceUrl).min(1)]),
        username: z.string().optional(),
        credential: z.string().optional(),
      }),
    )
    .optional(),
  /** A WebRTC dial whose channel isn't open within this fails. */
  connectTimeoutMs: z.number().int().min(100).max(120_000).optional(),
})

/** A value checked (and normalized) by a `@runnel/protocol` parser, its error message as the issue. */
function parsedBy<T>(parse: (value: unknown) => T) {
  return z.string().transform((value, context) => {
    try {
      return parse(value)
    } catch (err) {
      context.addIssue({ code: 'custom', message: shortMessageOf(err) })
      return z.NEVER
    }
  })
}

/**
 * Where the node runs (docs/node.md, "Location"): told to peers, and matched against streams' placement constraints.
 * Either a country (ISO 3166-1 alpha-2), or `geoip` to look it up in the packaged database from the node's public
 * IPv4 address (`true`: `listen.host`); a region name in both cases, if wanted.
 */
const locationSection = z
  .strictObject({
    country: parsedBy((value) => parseCountryCode(value, 'country')).optional(),
    region: parsedBy((value) => parseRegion(value, 'region')).optional(),
    geoip: z.union([z.literal(true), z.ipv4()]).optional(),
  })
  .refine((location) => location.country === undefined || location.geoip === undefined, {
    message: 'give country or geoip, not both',
    path: ['geoip'],
  })
/** A rate per second: positive and finite. */
const positiveRate = z.number().positive().finite()

/**
 * Quotas of each API client (its API key when the node requires keys, else its IP address), over all APIs
 * together; an unset rate or cap is no limit (docs/node.md, "Quotas").
 */
const quotasSection = z.strictObject({
  /** Messages a client may publish per second. */
  messagesPerSecond: positiveRate.optional(),
  /** Bytes (payloads as received) a client may publish per second. */
  bytesPerSecond: positiveRate.optional(),
  /** WebSocket and MQTT connections, and HTTP requests under way, a client may have open at once. */
  maxConnections: z.number().int().min(1).optional(),
  /** Each rate allows bursts of this many seconds of it. */
  burstSeconds: z.number().positive().max(3_600).default(1),
  /** A WebSocket publisher refused this many frames in a row over its quota is closed (1008). */
  closeAfterRefusals: z.number().int().min(1).default(100),
  /** Clients tracked at once; the least recently seen one without open connections is forgotten beyond it. */
  maxClients: z.number().int().min(1).max(10_000_000).default(10_000),
})

const networkSection = z
  .strictObject({
    /** Default: 'dht' when `entryPoints` are given and `trackers` aren't, else 'tracker'. */
    discovery: networkSettingSchemas.discovery.optional(),
    trackers: networkSettingSchemas.trackers.optional(),
    entryPoints: networkSettingSchemas.entryPoints.optional(),
    dht: dhtSection.prefault({}),
    /** Absent: WebSocket only. */
    webrtc: webrtcSection.optional(),
    /** Where this node listens for neighbours. Port 0: any free port. */
    listen: z.strictObject({ host: host.default('127.0.0.1'), port: port.default(0) }).prefault({}),
    /** A light node relays nothing and joins through proxies; it can't accept neighbours. */
    kind: z.enum(['full', 'light']).default('full'),
    location: locationSection.optional(),
    /**
     * ATTACK SIMULATION ONLY: the node takes stream parts' messages but relays none (a free rider). For tests of the
     * incentives and of dropper attacks; never set it on a real node.
     */
    dropRelayedMessages: z.boolean().default(false),
    /**
     * Rate limits on the messages this node relays, per publisher and per stream part (docs/network.md, "Relay
     * limits"): each rate has a generous default; `false` turns them off.
     */
    relayLimits: z
      .union([
        z.literal(false),
        z.strictObject({
          publisherMessagesPerSecond: positiveRate.optional(),
          publisherBytesPerSecond: positiveRate.optional(),
          streamPartMessagesPerSecond: positiveRate.optional(),
          streamPartBytesPerSecond: positiveRate.optional(),
          burstSeconds: z.number().positive().max(3_600).optional(),
          maxPublishersPerStreamPart: z.number().int().min(1).max(1_000_000).optional(),
          maxNeighborExcess: z.number().int().min(1).optional(),
        }),
      ])
      .optional(),
    /**
     * Caps on incoming network connections per IP address and per /24 (/48), checked before the handshake
     * (docs/network.md, "Limits and misbehaviour"). Defaults: 16 and 32, loopback and private addresses exempt.
     */
    inbound: z
      .strictObject({
        maxPerIp: z.number().int().min(1).max(100_000).optional(),
        maxPerSubnet: z.number().int().min(1).max(1_000_000).optional(),
        exemptPrivateAddresses: z.boolean().optional(),
      })
      .optional(),
  })
  .transform(({ discovery, trackers, entryPoints, ...rest }) => {
    const mode = discovery ?? (entryPoints !== undefined && trackers === undefined ? 'dht' : 'tracker')
    return {
      ...rest,
      discovery: mode,
      // The other mode's list stays as given (unused), so a config switches modes by `discovery` alone.
      trackers: trackers ?? [`ws://127.0.0.1:${DEFAULT_PORTS.tracker}`],
      entryPoints: entryPoints ?? [`ws://127.0.0.1:${DEFAULT_PORTS.entryPoint}`],
    }
  })

export const nodeConfigSchema = z
  .strictObject({
    /** The key the node signs with. Default: a new key each start (fine for public streams). */
    privateKey: hexKey.optional(),
    network: networkSection.prefault({}),
    chain: z
      .strictObject({
        rpcUrl: networkSettingSchemas.rpcUrl.default(`http://127.0.0.1:${DEFAULT_PORTS.chain}`),
        contracts: networkSettingSchemas.contracts.optional(),
        /** The incentive contracts (the operator plugin's). Default: the dev chain's. */
        incentives: z
          .strictObject({ token: address, sponsorships: address, operatorFactory: address, voteKick: address })
          .optional(),
        /** The marketplace and the Data Union factory (the Data Union plugins'). Default: the dev chain's. */
        market: z.strictObject({ marketplace: address, dataUnionFactory: address }).optional(),
      })
      .prefault({}),
    encryption: z
      .strictObject({
        /** Keep group keys in this file (created, mode 0600) so they survive restarts. Default: in memory only. */
        keyStorePath: z.string().min(1).optional(),
        /** Rotate each stream's key this often when publishing (ms). Default: never automatically. */
        rotationIntervalMs: z.number().int().min(1_000).optional(),
      })
      .prefault({}),
    /**
     * Publishing: how long this node keeps what it published to streams with storage nodes until a storage receipt
     * covers it, and when it offers it again (see docs/node.md, "Acknowledgements").
     */
    retention: z
      .strictObject({
        maxMessages: z.number().int().min(1).default(100_000),
        maxBytes: z
          .number()
          .int()
          .min(1)
          .default(64 * 1024 * 1024),
        maxAgeMs: z.number().int().min(1_000).default(3_600_000),
        reofferAfterMs: z.number().int().min(100).default(30_000),
      })
      .prefault({}),
    /** Publishes with `ack=stored` fail with 504 NOT_STORED when no storage node confirmed within this (ms); per request too. */
    storedAckTimeoutMs: z.number().int().min(1).max(600_000).default(10_000),
    /** When set, every API requires one of these keys. */
    apiKeys: z.array(z.string().min(16, 'at least 16 characters')).min(1).optional(),
    /** Per-client quotas on the APIs: publish rates and open connections (429, error frame, MQTT close). */
    quotas: quotasSection.prefault({}),
    /**
     * How far ahead of this node's clock a message's timestamp may be: an API publish stamped further ahead is refused
     * (400), and a received message stamped further ahead is dropped, counted and not stored.
     */
    maxClockSkewMs: z.number().int().min(0).max(86_400_000).default(DEFAULT_MAX_CLOCK_SKEW_MS),
    /** Largest message content any API accepts, in bytes. */
    maxPayloadBytes: z
      .number()
      .int()
      .min(1)
      .max(1024 * 1024 - 4096)
      .default(512 * 1024),
    /**
     * Delivery to API subscribers and publisher pushback (see docs/node.md, "Fan-out, shedding and pushback"): a
     * subscriber with more than `maxSubscriberBufferBytes` unsent is disconnected; a publish that arrives while more
     * than `maxPendingPublishes` publishes wait, or more than `maxQueuedDeliveryBytes` are unsent to subscribers, is
     * refused with `OVERLOADED` (503, `Retry-After: retryAfterMs`); `collectAfterLoad` returns a load's memory.
     */
    delivery: z
      .strictObject({
        maxSubscriberBufferBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 * 1024 * 1024)
          .default(8 * 1024 * 1024),
        maxPendingPublishes: z.number().int().min(1).max(10_000_000).default(10_000),
        maxQueuedDeliveryBytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024 * 1024)
          .default(512 * 1024 * 1024),
        retryAfterMs: z.number().int().min(1).max(3_600_000).default(1_000),
        /**
         * After at least 32 MiB sent to subscribers and then 2 s with nothing sent, one full garbage collection (at
         * most every 10 s), so the memory of the load goes back to the system (docs/node.md, "Memory after a load").
         */
        collectAfterLoad: z.boolean().default(true),
      })
      .prefault({}),
    /**
     * The node's own figures on its metrics stream, `<address>/runnel/metrics` (docs/node.md, "Metrics stream"):
     * per 5 s, minute and hour. Creating the stream takes one transaction by the node's key. Default on (for a node
     * with its own `privateKey`: one without is a new identity each start).
     */
    metrics: z.strictObject({ publish: z.boolean().default(true) }).prefault({}),
    plugins: z
      .strictObject({
        websocket: plugin(websocketPlugin),
        http: plugin(
          httpPlugin.refine((http) => http.headersTimeoutMs <= http.requestTimeoutMs, {
            message: 'headersTimeoutMs must not be more than requestTimeoutMs (a request includes its headers)',
            path: ['headersTimeoutMs'],
          }),
        ),
        mqtt: plugin(mqttPlugin),
        /** Store the streams assigned to this node on chain and serve their history (needs `http`). */
        storage: plugin(storagePlugin),
        /** Serve as one of an operator's nodes: relay its sponsored streams, heartbeat, collect earnings, review flags. */
        operator: operatorPlugin.optional(),
        /** A Data Union join server: members sign a request, the node's key (a join agent) adds them on chain. */
        dataUnionJoin: dataUnionJoinPluginSchema.optional(),
        dataUnionState: dataUnionStatePluginSchema.optional(),
      })
      .prefault({})
      .refine((plugins) => plugins.storage === undefined || plugins.http !== undefined, {
        message: 'the storage plugin serves history over HTTP: enable plugins.http too',
        path: ['storage'],
      })
      .refine((plugins) => plugins.storage?.backend !== 'postgres' || plugins.storage.postgres !== undefined, {
        message: 'backend "postgres" needs plugins.storage.postgres.url',
        path: ['storage', 'postgres'],
      }),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** Human-readable lines instead of JSON. Default: when stdout is a terminal. */
        pretty: z.boolean().optional(),
      })
      .prefault({}),
  })
  .refine((config) => config.plugins.operator === undefined || config.privateKey !== undefined, {
    message:
      "the operator plugin needs the node's own privateKey: its address is what the operator's owner lists with setNodes",
    path: ['privateKey'],
  })
  .refine((config) => config.plugins.dataUnionJoin === undefined || config.privateKey !== undefined, {
    message: "the dataUnionJoin plugin needs the node's own privateKey: the Data Union's admin adds it as a join agent",
    path: ['privateKey'],
  })

/** A validated node config with every default filled in. */
export type NodeConfig = z.output<typeof nodeConfigSchema>
/** What a config file may contain: everything is optional. */
export type NodeConfigInput = z.input<typeof nodeConfigSchema>
export type WebSocketPluginConfig = z.output<typeof websocketPlugin>
export type HttpPluginConfig = z.output<typeof httpPlugin>
export type MqttPluginConfig = z.output<typeof mqttPlugin>
export type DeliveryConfig = NodeConfig['delivery']
export type StoragePluginConfig = z.output<typeof storagePlugin>
export type StorageRepairConfig = z.output<typeof repairSection>
export type OperatorPluginConfig = z.output<typeof operatorPlugin>
export type { DataUnionJoinPluginConfig } from './plugins/dataUnionJoin/config.js'
export type { DataUnionStatePluginConfig } from './plugins/dataUnionState/config.js'
export type QuotasConfig = z.output<typeof quotasSection>

/**
 * Validates a node config and fills in defaults. Errors name every bad key.
 *
 * @throws {@link NodeError} `INVALID_CONFIG`, e.g. `plugins.mqtt.port: Invalid input: expected number, received string`
 * @example
 * ```ts
 * const config = parseConfig({ plugins: { mqtt: { port: 1884 }, http: true } })
 * config.plugins.http?.port // 7171
 * ```
 */
export function parseConfig(input: unknown, source = 'config'): NodeConfig {
  const result = nodeConfigSchema.safeParse(input)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.length === 0 ? '(top level)' : issue.path.map(String).join('.')
    // A record's bad key says only "Invalid key in record"; what is wrong with it is in the nested issue.
    const inner = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined
    return `${key}: ${inner === undefined ? issue.message : `not ${inner}`}`
  })
  throw new NodeError('INVALID_CONFIG', `${source} is invalid:\n  ${problems.join('\n  ')}`)
}

/** Reads and validates a JSON config file. */
export async function loadConfigFile(path: string): Promise<NodeConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new NodeError('INVALID_CONFIG', `can't read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new NodeError('INVALID_CONFIG', `${path} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  return parseConfig(json, path)
}
