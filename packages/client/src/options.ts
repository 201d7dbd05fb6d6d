import type { RetentionOptions } from './publish/retention.js'
import {
  DEV_CONTRACT_ADDRESSES,
  DEV_INCENTIVE_ADDRESSES,
  DEV_MARKET_ADDRESSES,
  type ContractAddresses,
  type Erc1271Verifier,
  type IncentiveAddresses,
  type MarketAddresses,
  type RunnelIncentives,
  type RunnelMarket,
  type RunnelRegistry,
} from '@runnel/chain'
import type { NetworkNode, NetworkNodeOptions, Transport, WebRtcTransportOptions } from '@runnel/network'
import type { Clock, MessageSigner, SignatureVerifier } from '@runnel/protocol'
import type { EIP1193Provider } from 'viem'
import type { AuthOptions } from './auth/resolveAuth.js'
import type { ClientLogger } from './logger.js'
import type { EncryptionOptions } from './encryption/EncryptionLayer.js'
import type { GroupKeyStore } from './encryption/KeyStore.js'

/**
 * Where the local network of `npm start` (`runnel dev`) listens: its dev
 * chain's JSON-RPC, its tracker (or, with `runnel dev --discovery dht`, its
 * DHT entry point), and the contracts every dev chain deploys. A dev chain and
 * a tracker or entry point started on these ports by hand work too.
 */
export const LOCAL_DEFAULTS = {
  trackers: ['ws://127.0.0.1:30300'],
  entryPoints: ['ws://127.0.0.1:30301'],
  rpcUrl: 'http://127.0.0.1:8545',
  contracts: DEV_CONTRACT_ADDRESSES,
  incentives: DEV_INCENTIVE_ADDRESSES,
  market: DEV_MARKET_ADDRESSES,
} as const

/**
 * How far ahead of a client's clock a message's timestamp may be by default: wide enough for devices whose clocks
 * drift between syncs, narrow enough that a message can't claim a time far ahead (and so escape time-range history
 * and retention).
 */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000

export interface RunnelClientOptions {
  /**
   * Who the client is: a private key (a new one when omitted), an EIP-1193 provider (a browser wallet), or a viem
   * account. See {@link AuthOptions}.
   */
  readonly auth?: AuthOptions
  /**
   * The client's network node. Discovery: `discovery: 'tracker'` (with `trackers`) or `'dht'` (with `entryPoints`);
   * without `discovery`, a client listing `entryPoints` and no `trackers` runs in dht mode, any other in tracker mode,
   * and the list its mode needs defaults to the local network's (`LOCAL_DEFAULTS`). `dht` tunes the DHT.
   *
   * @example
   * ```ts
   * const client = createRunnelClient({ network: { discovery: 'dht', entryPoints: ['wss://entry.example.org'] } })
   * ```
   */
  readonly network?: Partial<Omit<NetworkNodeOptions, 'trackers'>> & {
    readonly trackers?: readonly string[]
    /**
     * Default: the browser's WebSocket, dial-only, for a light node (the default kind without a transport); with
     * `kind: 'full'`, that plus the browser's WebRTC. Node.js: use `@runnel/client/node`.
     */
    readonly transport?: Transport
    /**
     * WebRTC settings (`iceServers`: STUN/TURN, none by default, so only host candidates; timeouts, bounds) of the
     * default transport of a browser full node, and in Node.js (`@runnel/client/node`) the switch that adds WebRTC
     * beside the WebSocket server: `{}` for the defaults.
     */
    readonly webrtc?: WebRtcTransportOptions
  }
  readonly chain?: {
    /** JSON-RPC endpoint (HTTP). Ignored when `provider` is given. */
    readonly rpcUrl?: string
    /** An EIP-1193 provider instead of an URL (a wallet, or the embedded dev chain). */
    readonly provider?: EIP1193Provider | { request(args: { method: string; params?: unknown }): Promise<unknown> }
    readonly contracts?: ContractAddresses
    /** The token and incentive contracts (`client.incentives`). Default: the dev chain's (`LOCAL_DEFAULTS.incentives`). */
    readonly incentives?: IncentiveAddresses
    /** The marketplace and the Data Union factory (`client.market`). Default: the dev chain's (`LOCAL_DEFAULTS.market`). */
    readonly market?: MarketAddresses
    /** First block with registry events. Default 0. */
    readonly fromBlock?: bigint
  }
  /** How long chain answers (permissions, partition counts, storage nodes) are cached without a change event. Default 30 s. */
  readonly permissionCacheTtlMs?: number
  /**
   * How far ahead of this client's clock a message's timestamp may be. A publish stamped further ahead is refused;
   * a received (live or stored) message stamped further ahead is dropped and reported as `timestamp-in-future`.
   * Default 5 minutes (`DEFAULT_MAX_CLOCK_SKEW_MS`).
   */
  readonly maxClockSkewMs?: number
  /** How long a subscriber waits for a missing message before reporting a gap. Default 5 s. */
  readonly gapTimeoutMs?: number
  /** How long a chain waits for a missing message before asking storage for it; each later ask waits twice as long. Default 500 ms. */
  readonly gapFillDelayMs?: number
  /** Storage requests per gap (after 500, 1,000, 2,000 ms by default) before it waits out `gapTimeoutMs`; 0 turns gap fill off. Default 3. */
  readonly gapFillAttempts?: number
  /** How long the first publish or subscribe to a stream part waits for a neighbour when the tracker names any (the first node of a stream part goes on at once). Default 5 s. */
  readonly joinTimeoutMs?: number
  /** Unread messages kept per subscription. Default 10,000. */
  readonly subscriptionBufferSize?: number
  /** Key exchange and rotation settings. */
  readonly encryption?: EncryptionOptions
  /**
   * How long published messages of streams with storage nodes are kept until a storage receipt covers them, and when
   * they're offered again. See {@link RetentionOptions}.
   */
  readonly retention?: RetentionOptions
}

/**
 * The client's collaborators: what differs between browsers and Node.js, and what tests and embedders bring their
 * own of. Settings stay in {@link RunnelClientOptions}.
 *
 * @example
 * ```ts
 * const client = new RunnelClient(options, { clock: new ManualClock(Date.now()), logger: console })
 * ```
 */
export interface RunnelClientComponents {
  readonly signer?: MessageSigner
  readonly verifier?: SignatureVerifier
  /** Where group keys are kept. Default: in memory (the node daemon persists them). */
  readonly keyStore?: GroupKeyStore
  /** Where time comes from (timestamps, timeouts, caches). Default: the system clock. */
  readonly clock?: Clock
  /** Where the client says what it would otherwise swallow. Default: quiet. */
  readonly logger?: ClientLogger
  /** The chain bindings. Default: built from `options.chain`, sending transactions as `options.auth`. */
  readonly registry?: RunnelRegistry
  /** The incentive bindings. Default: built on first use from `options.chain`, sending transactions as `options.auth`. */
  readonly incentives?: RunnelIncentives
  /** The marketplace and Data Union bindings. Default: built on first use from `options.chain`, signing as `options.auth`. */
  readonly market?: RunnelMarket
  /** Asks ERC-1271 wallets whether they accept their messages' signatures. Default: one over the chain's reads. */
  readonly erc1271Verifier?: Erc1271Verifier
  /** The chain's EIP-1193 provider; same as `options.chain.provider`, which it overrides. */
  readonly provider?: EIP1193Provider | { request(args: { method: string; params?: unknown }): Promise<unknown> }
  /** The network transport; same as `options.network.transport`, which it overrides. */
  readonly transport?: Transport
  /**
   * The network node, for a client that shares one: it must sign with this client's key. Default: a node built from
   * `options.network`. The client starts and stops it.
   */
  readonly networkNode?: NetworkNode
}
