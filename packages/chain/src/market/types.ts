import type { Address, Hex, PublicClient } from 'viem'
import type { RegistryWallet } from '../registry/write.js'
import type { ContractAddresses, MarketAddresses } from '../registry/types.js'

export interface RunnelMarketComponents {
  readonly publicClient: PublicClient
  /** Needed for writes only. */
  readonly walletClient?: RegistryWallet
  readonly addresses: MarketAddresses
  /** The stream registry: products grant the marketplace on their streams through it. */
  readonly registry: ContractAddresses['streamRegistry']
  /** The network token: the default token of prices and Data Unions. */
  readonly token: Address
}

/** One accepted token and its price in the token's smallest unit per second. */
export interface TokenPrice {
  readonly token: Address
  readonly pricePerSecond: bigint
}

/** What a seller sets on a product. */
export interface ProductInput {
  readonly name: string
  /** 1..20 stream ids; the seller must hold grant on each. */
  readonly streams: readonly string[]
  /** Who is paid: an address, or a Data Union (which then shares it among its members). */
  readonly beneficiary: Address
  /** 1..8 accepted tokens with their price per second. */
  readonly prices: readonly TokenPrice[]
  /** The shortest period one purchase may buy, in seconds. Default 0 (any). */
  readonly minimumSeconds?: number
  /** Where the terms of use are (a URL or an IPFS reference). */
  readonly termsUri?: string
}

export interface ProductInfo {
  readonly id: number
  readonly owner: Address
  readonly name: string
  readonly streams: readonly string[]
  readonly beneficiary: Address
  readonly prices: readonly TokenPrice[]
  readonly minimumSeconds: number
  readonly termsUri: string
  readonly listed: boolean
  /** Whether the beneficiary is a Data Union made by the network's factory. */
  readonly beneficiaryIsDataUnion: boolean
}

/** What a purchase did. */
export interface Purchase {
  readonly productId: number
  readonly subscriber: Address
  readonly token: Address
  readonly seconds: number
  /** In the token's smallest unit. */
  readonly paid: bigint
  /** When the subscription now ends (Unix seconds). */
  readonly endsAt: number
  readonly transactionHash: Hex
}

/** A buyer's subscription to one product. */
export interface SubscriptionInfo {
  readonly productId: number
  readonly subscriber: Address
  /** Unix seconds; in the past once it ended. */
  readonly endsAt: number
  /** Whether it runs now, by the chain's latest block time. */
  readonly active: boolean
}

export type MemberStatus = 'none' | 'active' | 'parted'

export interface MemberInfo {
  readonly address: Address
  readonly status: MemberStatus
  readonly weight: bigint
  /** Everything earned, in the union's token (wei). */
  readonly earned: bigint
  readonly withdrawn: bigint
  readonly withdrawable: bigint
}

export interface DataUnionInfo {
  readonly address: Address
  readonly admin: Address
  readonly token: Address
  readonly adminFeeBps: number
  readonly metadata: string
  readonly totalRevenue: bigint
  readonly totalWithdrawn: bigint
  readonly totalWeight: bigint
  readonly activeMemberCount: number
  readonly memberCount: number
  readonly adminEarned: bigint
  readonly adminWithdrawn: bigint
}

export interface DataUnionInput {
  /** Default the network token. */
  readonly token?: Address
  /** The admin's share of revenue, in basis points (0..10000). */
  readonly adminFeeBps: number
  /** Accounts that may add and part members besides the admin (a join server's key). */
  readonly joinAgents?: readonly Address[]
  readonly metadata?: string
}

/** One revenue the union accounted. Amounts in the union's token. */
export interface RevenueEvent {
  readonly blockNumber: bigint
  readonly amount: bigint
  /** The admin's share of it. */
  readonly adminFee: bigint
  /** The union's cumulative index after it (token units per weight, scaled by 10^18). */
  readonly revenuePerWeight: bigint
}

/** A member's signed permission for anyone to send `amount` of its earnings to `to`. */
export interface SignedWithdrawal {
  readonly dataUnion: Address
  readonly member: Address
  readonly to: Address
  readonly amount: bigint
  /** Unix seconds after which the signature is refused. */
  readonly deadline: number
  readonly signature: Hex
}
