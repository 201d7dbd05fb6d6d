/**
 * A reference model of the Sponsorships earnings math in plain bigint
 * arithmetic: a cumulative reward-per-stake index (scale 1e36), the index step
 * rounded down, the funds charged the step's worth rounded up, each operator's
 * share rounded down. The property test replays every successful chain action
 * on it and compares earnings, funds and payouts to the wei.
 */
export const INDEX_SCALE = 10n ** 36n

const divCeil = (a: bigint, b: bigint): bigint => (a === 0n ? 0n : (a - 1n) / b + 1n)
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)

export interface ModelTerms {
  readonly ratePerSecond: bigint
  readonly minOperators: number
  readonly maxOperators: number
  readonly minStaySeconds: bigint
  readonly earlyLeavePenalty: bigint
}

interface ModelStake {
  amount: bigint
  paid: bigint
  earnings: bigint
  joinedAt: bigint
}

export class SponsorshipModel {
  unallocated = 0n
  totalStake = 0n
  index = 0n
  lastUpdate: bigint
  readonly stakes = new Map<string, ModelStake>()
  readonly kicked = new Set<string>()

  constructor(
    readonly terms: ModelTerms,
    createdAt: bigint,
  ) {
    this.lastUpdate = createdAt
  }

  get operatorCount(): number {
    return this.stakes.size
  }

  /** The index and funds as they stand at `now`, without storing them. */
  projected(now: bigint): { index: bigint; unallocated: bigint } {
    let index = this.index
    let unallocated = this.unallocated
    if (this.totalStake === 0n || this.operatorCount < this.terms.minOperators || unallocated === 0n) {
      return { index, unallocated }
    }
    const due = min((now - this.lastUpdate) * this.terms.ratePerSecond, unallocated)
    const step = (due * INDEX_SCALE) / this.totalStake
    index += step
    unallocated -= divCeil(step * this.totalStake, INDEX_SCALE)
    return { index, unallocated }
  }

  /** Earnings of `operator` at `now` (what `getStake(...).earnings` shows). */
  earningsOf(operator: string, now: bigint): bigint {
    const s = this.stakes.get(operator)
    if (s === undefined) return 0n
    return s.earnings + (s.amount * (this.projected(now).index - s.paid)) / INDEX_SCALE
  }

  stakeOf(operator: string): bigint {
    return this.stakes.get(operator)?.amount ?? 0n
  }

  sponsor(now: bigint, amount: bigint): void {
    this.accrue(now)
    this.unallocated += amount
  }

  stake(now: bigint, operator: string, amount: bigint): void {
    this.accrue(now)
    let s = this.stakes.get(operator)
    if (s === undefined) {
      s = { amount: 0n, paid: this.index, earnings: 0n, joinedAt: now }
      this.stakes.set(operator, s)
    } else {
      this.settle(s)
    }
    s.amount += amount
    this.totalStake += amount
  }

  /** Returns what `unstake` pays: the stake less the penalty, and the earnings. */
  unstake(now: bigint, operator: string): { returned: bigint; penalty: bigint; earnings: bigint } {
    this.accrue(now)
    const s = this.mustGet(operator)
    this.settle(s)
    const penalty = now < s.joinedAt + this.terms.minStaySeconds ? min(this.terms.earlyLeavePenalty, s.amount) : 0n
    this.unallocated += penalty
    this.remove(operator, s)
    return { returned: s.amount - penalty, penalty, earnings: s.earnings }
  }

  withdraw(now: bigint, operator: string): bigint {
    this.accrue(now)
    const s = this.mustGet(operator)
    this.settle(s)
    const earnings = s.earnings
    s.earnings = 0n
    return earnings
  }

  /** Returns the amount slashed and the earnings paid out if the stake reached zero. */
  slash(now: bigint, operator: string, amount: bigint): { slashed: bigint; paidEarnings: bigint } {
    this.accrue(now)
    const s = this.stakes.get(operator)
    if (s === undefined) return { slashed: 0n, paidEarnings: 0n }
    this.settle(s)
    const slashed = min(amount, s.amount)
    s.amount -= slashed
    this.totalStake -= slashed
    if (s.amount !== 0n) return { slashed, paidEarnings: 0n }
    this.remove(operator, s)
    return { slashed, paidEarnings: s.earnings }
  }

  /** Returns the stake given back and the earnings forfeited to the funds. */
  kick(now: bigint, operator: string): { returned: bigint; forfeited: bigint } {
    this.accrue(now)
    this.kicked.add(operator)
    const s = this.stakes.get(operator)
    if (s === undefined) return { returned: 0n, forfeited: 0n }
    this.settle(s)
    this.unallocated += s.earnings
    this.remove(operator, s)
    return { returned: s.amount, forfeited: s.earnings }
  }

  private accrue(now: bigint): void {
    if (now === this.lastUpdate) return
    const { index, unallocated } = this.projected(now)
    this.index = index
    this.unallocated = unallocated
    this.lastUpdate = now
  }

  private settle(s: ModelStake): void {
    s.earnings += (s.amount * (this.index - s.paid)) / INDEX_SCALE
    s.paid = this.index
  }

  private remove(operator: string, s: ModelStake): void {
    this.totalStake -= s.amount
    this.stakes.delete(operator)
  }

  private mustGet(operator: string): ModelStake {
    const s = this.stakes.get(operator)
    if (s === undefined) throw new Error(`model: ${operator} is not staked`)
    return s
  }
}

/** ERC-4626 share math of the operator vault (virtual offset 10^6 shares, 1 token). */
export const VIRTUAL_SHARES = 10n ** 6n

export function sharesForDeposit(assets: bigint, totalAssets: bigint, totalShares: bigint): bigint {
  return (assets * (totalShares + VIRTUAL_SHARES)) / (totalAssets + 1n)
}

export function assetsForShares(shares: bigint, totalAssets: bigint, totalShares: bigint): bigint {
  return (shares * (totalAssets + 1n)) / (totalShares + VIRTUAL_SHARES)
}

/** Deterministic PRNG (mulberry32) so a failing run replays from its printed seed. */
export class SeededPrng {
  private state: number

  constructor(readonly seed: number) {
    this.state = seed >>> 0
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  int(minInclusive: number, maxInclusive: number): number {
    return minInclusive + Math.floor(this.next() * (maxInclusive - minInclusive + 1))
  }

  bigint(minInclusive: bigint, maxInclusive: bigint): bigint {
    const span = maxInclusive - minInclusive + 1n
    // 53 random bits twice cover the spans used here (below 2^100).
    const r = (BigInt(Math.floor(this.next() * 2 ** 53)) << 53n) | BigInt(Math.floor(this.next() * 2 ** 53))
    return minInclusive + (r % span)
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list')
    return items[this.int(0, items.length - 1)]!
  }

  chance(p: number): boolean {
    return this.next() < p
  }
}
