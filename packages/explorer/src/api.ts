/**
 * What the explorer's server answers, as the web app reads it: the JSON of each `/api` route and the events of its
 * live feeds (server-sent events). Types only, so the browser bundle shares them without any server code.
 */

/** Every error answer: `{ error: { code, message } }`, with an HTTP status (400 bad input, 404 unknown, 502 a node failed). */
export interface ApiError {
  readonly error: { readonly code: string; readonly message: string }
}

/**
 * One report on a node's metrics stream (format version 1, docs/node.md "Metrics stream"): what the node publishes
 * (`MetricsStream` of `@runnel/node`) and the explorer reads. Counters are what happened during `[from, to)`; gauges
 * are their value at `to` (memory: the most over the period).
 */
export interface MetricsReport {
  readonly v: 1
  readonly period: '5s' | '1m' | '1h'
  readonly from: number
  readonly to: number
  /** Data frames the node received and sent (relayed copies included). */
  readonly messages: { readonly in: number; readonly out: number }
  /** Wire bytes in and out, over every peer connection. */
  readonly bytes: { readonly in: number; readonly out: number }
  /** Messages handed to this node's own subscribers (its client and APIs), and to API subscribers. */
  readonly deliveries: { readonly local: number; readonly api: number }
  /** Messages dropped for a signature that didn't verify. */
  readonly invalidSignatures: number
  /** From the publisher's timestamp to delivery on an API, over the period (bucket bounds, ms); null when none. */
  readonly latencyMs: {
    readonly samples: number
    readonly p50: number
    readonly p90: number
    readonly p99: number
  } | null
  /** Neighbours per stream part (at most 100 stream parts). */
  readonly streamParts: Readonly<Record<string, number>>
  readonly connections: Readonly<Record<string, number>>
  /** Process CPU over the period (% of one core), resident and heap memory (bytes). */
  readonly cpuPercent: number
  readonly memory: { readonly rss: number; readonly heapUsed: number }
  readonly node: {
    readonly version: string
    readonly kind: 'full' | 'light'
    readonly discovery: 'tracker' | 'dht'
    readonly region: string | null
    readonly country: string | null
    readonly operator: string | null
    /** Where other nodes reach it (its WebSocket URLs; none for a node that only dials out); absent from older reports. */
    readonly addresses?: readonly string[]
  }
}

/** A node the explorer knows of (from its metrics stream), with its latest 5 s report. */
export interface NodeSummary {
  /** The node's address (= its node id), lower case. */
  readonly address: string
  /** The metrics stream it publishes to. */
  readonly metricsStreamId: string
  /** Its latest valid report; null before the first one arrives. */
  readonly report: MetricsReport | null
  /** When that report arrived here (Unix ms); null before. */
  readonly lastSeenAt: number | null
  /** Seen within the last 3 report periods (15 s). */
  readonly live: boolean
  /** Rates over the latest report: data messages sent on per second, messages delivered to subscribers per second. */
  readonly messagesPerSecond: number
  readonly deliveriesPerSecond: number
  /** Why the latest message on its metrics stream was ignored (malformed content), if it was. */
  readonly problem: string | null
}

/** `GET /api/overview`, and the `overview` event of `GET /api/live`. */
export interface Overview {
  readonly network: { readonly discovery: 'tracker' | 'dht'; readonly explorerNodeId: string }
  readonly totals: {
    /** Nodes seen live. */
    readonly liveNodes: number
    readonly knownNodes: number
    readonly streams: number
    /** Summed over live nodes' latest reports. */
    readonly messagesPerSecond: number
    readonly deliveriesPerSecond: number
    /** The highest of the live nodes' percentiles (a conservative network-wide figure); null without samples. */
    readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number } | null
  }
  readonly nodes: readonly NodeSummary[]
  readonly updatedAt: number
}

/** `GET /api/search?q=…` */
export interface SearchResults {
  readonly query: string
  readonly streams: readonly { readonly id: string; readonly description: string; readonly partitions: number }[]
  readonly nodes: readonly {
    readonly address: string
    readonly region: string | null
    readonly kind: string | null
    readonly live: boolean
  }[]
}

/** `GET /api/streams/:id` (the id URL-encoded). */
export interface StreamDetails {
  readonly id: string
  readonly description: string
  readonly partitions: number
  /** The stream's metadata as stored on chain. */
  readonly metadata: Readonly<Record<string, unknown>>
  /** Who may do what; `public` for everyone. */
  readonly permissions: readonly { readonly user: string; readonly permissions: readonly string[] }[]
  readonly publishers: readonly string[]
  readonly subscribers: readonly string[]
  readonly storageNodes: readonly string[]
  /** Publicly subscribable: only then can the explorer show its tail (others are end-to-end encrypted). */
  readonly isPublic: boolean
}

/** `GET /api/streams/:id/overlay?partition=n`: the stream part's overlay, crawled with node-info queries. */
export interface OverlayResponse {
  readonly streamPartId: string
  /** Every node reached; the explorer's own node is one (it joins to look). */
  readonly nodes: readonly {
    readonly id: string
    readonly kind: string | null
    readonly region: string | null
    readonly version: string | null
    /** Why it didn't answer its info query (timeout, garbage…), if it didn't. */
    readonly error: string | null
    readonly explorer: boolean
  }[]
  /** Undirected edges, each once. */
  readonly edges: readonly (readonly [string, string])[]
  readonly crawledAt: number
  readonly tookMs: number
}

/** One message of a live tail (`GET /api/streams/:id/tail?partition=n`, event `message`). */
export interface TailMessage {
  readonly publisherId: string
  readonly timestamp: number
  readonly sequenceNumber: number
  readonly msgChainId: string
  /** JSON content, or for binary content its bytes as base64 (`binary: true`). */
  readonly content: unknown
  readonly binary: boolean
  /**
   * `valid`: signed by its publisher, who may publish. Anything else was dropped by the explorer's node and is never
   * counted as traffic: `forged` (the signature doesn't verify), `no-publish-permission`, `timestamp-in-future`.
   */
  readonly signature: 'valid' | 'forged' | 'no-publish-permission' | 'timestamp-in-future'
  /** The signed message as it travelled (the protocol's wire encoding, base64): the page checks the signature itself. */
  readonly frame: string
}

/** Event `rate` of a tail, once a second. */
export interface TailRate {
  /** Valid messages per second over the last 5 s. */
  readonly messagesPerSecond: number
  readonly valid: number
  readonly invalid: number
}

/** `GET /api/nodes/:address` */
export interface NodeDetails {
  readonly summary: NodeSummary
  /** Its answer to a node-info query; null when it couldn't be asked or didn't answer (`infoError` says why). */
  readonly info: {
    readonly nodeId: string
    readonly kind: string
    readonly addresses: readonly string[]
    readonly region: string | null
    readonly country: string | null
    readonly version: string
    readonly uptimeMs: number
    readonly connections: Readonly<Record<string, number>>
    readonly streamParts: readonly {
      readonly streamPartId: string
      readonly neighbors: readonly string[]
      readonly proxyClients: number
    }[]
  } | null
  readonly infoError: string | null
}

/** One point of a node's metrics history: a stored report, reduced to rates. */
export interface HistoryPoint {
  /** The end of the report's period, Unix ms. */
  readonly to: number
  readonly messagesInPerSecond: number
  readonly messagesOutPerSecond: number
  readonly bytesInPerSecond: number
  readonly bytesOutPerSecond: number
  readonly deliveriesPerSecond: number
  readonly cpuPercent: number
  readonly rss: number
}

/** `GET /api/nodes/:address/history?period=5s|1m|1h` */
export interface NodeHistory {
  readonly address: string
  readonly period: '5s' | '1m' | '1h'
  readonly points: readonly HistoryPoint[]
  /** Stored reports that were malformed and left out. */
  readonly skipped: number
  /** Why there is no history (no storage node keeps the stream…), if there is none. */
  readonly problem: string | null
}

/** A stake, as the incentives page shows it. Token amounts are RNL, as decimal strings (exact: 18 decimals). */
export interface StakeSummary {
  readonly sponsorshipId: number
  readonly operator: string
  readonly amount: string
  /** Earned and not yet withdrawn. */
  readonly earnings: string
  readonly underReview: boolean
  readonly kicked: boolean
}

/** `GET /api/incentives`: the sponsorships and operators on chain, with stakes and earnings. */
export interface IncentivesOverview {
  readonly sponsorships: readonly {
    readonly id: number
    readonly streamId: string
    readonly creator: string
    /** RNL paid per second, split among the operators by stake. */
    readonly ratePerSecond: string
    /** Funds not yet paid out. */
    readonly unallocated: string
    readonly totalStake: string
    readonly operatorCount: number
    readonly minOperators: number
    readonly maxOperators: number
    readonly paying: boolean
    readonly stakes: readonly StakeSummary[]
  }[]
  readonly operators: readonly {
    readonly address: string
    readonly owner: string
    readonly cutBps: number
    readonly metadata: string
    readonly nodes: readonly string[]
    /** What the operator's shares are worth: tokens held, stakes and uncollected earnings less the owner's cut. */
    readonly totalAssets: string
    readonly stakes: readonly StakeSummary[]
  }[]
}

/** A token amount: in the token's whole units as an exact decimal string (18 decimals), and whether it is RNL. */
export interface TokenPriceSummary {
  readonly token: string
  /** The network token (RNL); other tokens are shown by address. */
  readonly isNetworkToken: boolean
  /** Per second and per hour, in whole tokens (exact decimal strings). */
  readonly perSecond: string
  readonly perHour: string
}

/** A product of the marketplace: time-limited subscribe permission on its streams. */
export interface ProductSummary {
  readonly id: number
  readonly name: string
  readonly owner: string
  readonly streams: readonly string[]
  /** Who is paid: an account, or a Data Union (`beneficiaryIsDataUnion`) that shares it among its members. */
  readonly beneficiary: string
  readonly beneficiaryIsDataUnion: boolean
  readonly prices: readonly TokenPriceSummary[]
  /** The shortest period one purchase may buy, in seconds (0: any). */
  readonly minimumSeconds: number
  readonly termsUri: string
  readonly listed: boolean
}

/** `GET /api/products` (listed ones; `?all=1` delisted too). */
export interface ProductsList {
  readonly products: readonly ProductSummary[]
  /** The network token's address. */
  readonly networkToken: string
}

/** One of a buyer's subscriptions. */
export interface SubscriptionSummary {
  readonly productId: number
  /** The product's name; null if it couldn't be read. */
  readonly productName: string | null
  /** Unix seconds, by the chain's clock. */
  readonly endsAt: number
  readonly active: boolean
}

/** `GET /api/subscriptions/:address`: every product the address ever bought, newest purchase first. */
export interface SubscriptionsResponse {
  readonly subscriber: string
  /** The chain's latest block time (Unix seconds): what `active` is judged by. */
  readonly chainTime: number
  readonly subscriptions: readonly SubscriptionSummary[]
}

/** A Data Union in the list: its address and headline figures. Amounts in whole tokens (exact decimal strings). */
export interface DataUnionSummary {
  readonly address: string
  readonly admin: string
  readonly token: string
  readonly adminFeeBps: number
  readonly metadata: string
  readonly totalRevenue: string
  readonly activeMemberCount: number
  readonly memberCount: number
}

/** `GET /api/dataunions` */
export interface DataUnionsList {
  readonly dataUnions: readonly DataUnionSummary[]
}

export interface DataUnionMember {
  readonly address: string
  readonly status: 'none' | 'active' | 'parted'
  /** Decimal string (weights are uint96). */
  readonly weight: string
  readonly earned: string
  readonly withdrawn: string
  readonly withdrawable: string
}

/** One RevenueReceived event: revenue the union accounted, and the admin's fee out of it. */
export interface RevenuePoint {
  /** Block time, Unix seconds. */
  readonly time: number
  readonly amount: string
  readonly adminFee: string
  /** Revenue accounted up to and including this event. */
  readonly cumulative: string
  /** Of that, what went to the members (revenue less admin fees). */
  readonly cumulativeToMembers: string
}

/** `GET /api/dataunions/:address` */
export interface DataUnionDetails extends DataUnionSummary {
  readonly totalWithdrawn: string
  readonly totalWeight: string
  /** What went to the members: the revenue less the admin's fees. */
  readonly membersRevenue: string
  readonly adminEarned: string
  readonly adminWithdrawn: string
  /** Everyone who ever joined (from MemberJoined events), with their state now; at most 1,000. */
  readonly members: readonly DataUnionMember[]
  /** More members joined than are listed. */
  readonly membersTruncated: boolean
  /** Revenue over time (from RevenueReceived events), oldest first; the last 1,000. */
  readonly revenue: readonly RevenuePoint[]
  /** When the union was created (Unix seconds), if its Initialized event was found. */
  readonly createdAt: number | null
}

/** `GET /api/dev-accounts`: accounts the explorer may buy with (only `runnel dev` gives it any). */
export interface DevAccountsResponse {
  readonly accounts: readonly { readonly label: string; readonly address: string }[]
}

/** `POST /api/products/:id/buy` with `{ account, seconds, token? }`: what the purchase did. */
export interface PurchaseResponse {
  readonly productId: number
  readonly account: string
  readonly subscriber: string
  readonly token: string
  readonly seconds: number
  /** Whole tokens (exact decimal string). */
  readonly paid: string
  /** When the subscription now ends (Unix seconds). */
  readonly endsAt: number
  readonly transactionHash: string
}
