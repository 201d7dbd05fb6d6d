import type { Address, PublicClient } from 'viem'
import type { RegistryWallet } from '../registry/write.js'
import type { IncentiveAddresses } from '../registry/types.js'

export interface RunnelIncentivesComponents {
  readonly publicClient: PublicClient
  /** Needed for writes only. */
  readonly walletClient?: RegistryWallet
  readonly addresses: IncentiveAddresses
}

/** What a sponsorship pays and to how many operators. Amounts are in wei (18 decimals). */
export interface SponsorshipTerms {
  readonly streamId: string
  /** Paid out per second, split among the staked operators by stake. */
  readonly ratePerSecond: bigint
  /** It pays only while at least this many operators are staked. Default 1. */
  readonly minOperators?: number
  /** Default 100 (at most 1000). */
  readonly maxOperators?: number
  /** An operator leaving sooner pays `earlyLeavePenalty` to the sponsorship. Default 0. */
  readonly minStaySeconds?: number
  readonly earlyLeavePenalty?: bigint
}

export interface SponsorshipInfo {
  readonly id: number
  readonly streamId: string
  readonly creator: Address
  readonly ratePerSecond: bigint
  readonly minOperators: number
  readonly maxOperators: number
  readonly minStaySeconds: number
  readonly earlyLeavePenalty: bigint
  /** Funds not yet paid out, as of the latest block. */
  readonly unallocated: bigint
  readonly totalStake: bigint
  readonly operatorCount: number
  /** Whether it pays now: enough operators, funds left. */
  readonly paying: boolean
}

export interface StakeInfo {
  readonly sponsorshipId: number
  readonly operator: Address
  readonly amount: bigint
  /** The part of the stake that backs open flags. */
  readonly locked: bigint
  /** Earned and not yet withdrawn, as of the latest block. */
  readonly earnings: bigint
  readonly joinedAt: number
  readonly underReview: boolean
  readonly kicked: boolean
}

export interface OperatorInfo {
  readonly address: Address
  readonly owner: Address
  /** The owner's cut of collected earnings, in basis points. */
  readonly cutBps: number
  readonly metadata: string
  readonly nodes: readonly Address[]
  /** Tokens held, plus stake in sponsorships, plus uncollected earnings less the owner's cut (what shares are worth). */
  readonly totalAssets: bigint
  readonly totalShares: bigint
  readonly queuedShares: bigint
  readonly queueLength: number
  readonly stakes: readonly StakeInfo[]
}

export interface Delegation {
  readonly operator: Address
  readonly delegator: Address
  readonly shares: bigint
  /** What the shares are worth now. */
  readonly value: bigint
}

export type FlagStatus = 'open' | 'kicked' | 'false-flag' | 'inconclusive'

export interface FlagInfo {
  readonly id: number
  readonly sponsorshipId: number
  readonly flagger: Address
  readonly target: Address
  readonly flaggedAt: number
  /** Seconds since the epoch after which anyone may conclude the flag. */
  readonly deadline: number
  readonly reviewers: readonly Address[]
  readonly kickVotes: number
  readonly keepVotes: number
  readonly status: FlagStatus
}

/** A flag an operator was picked to review. */
export interface ReviewRequest {
  readonly flagId: number
  readonly sponsorshipId: number
  readonly target: Address
  readonly blockNumber: bigint
}
