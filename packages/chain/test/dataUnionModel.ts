/**
 * A reference model of DataUnion.sol's accounting in bigint, written from the
 * contract's documented rule rather than its code: revenue pays the admin
 * `floor(amount · feeBps / 10000)` (all of it while no member is active), the
 * rest raises a cumulative index by `floor((share · 1e18 + carry) / totalWeight)`
 * with the remainder carried, and a member's earnings are
 * `floor((settledScaled + weight · Δindex) / 1e18)`. Tests drive it next to the
 * contract and compare to the wei.
 */
import type { Address } from 'viem'

export const PRECISION = 10n ** 18n
export const MAX_FEE_BPS = 10_000n

export type ModelStatus = 'none' | 'active' | 'parted'

interface ModelMember {
  status: ModelStatus
  weight: bigint
  lastIndex: bigint
  settledScaled: bigint
  withdrawn: bigint
}

/** What one revenue did: the admin's fee and the index's rise. */
export interface RevenueSplit {
  readonly amount: bigint
  readonly fee: bigint
  readonly delta: bigint
}

/** Why the model refuses an action: the contract's error name. */
export class ModelRefusal extends Error {
  constructor(readonly errorName: string) {
    super(errorName)
  }
}

export class DataUnionModel {
  feeBps: bigint
  index = 0n
  carry = 0n
  totalWeight = 0n
  activeMemberCount = 0
  totalRevenue = 0n
  totalWithdrawn = 0n
  adminEarned = 0n
  adminWithdrawn = 0n
  private readonly members = new Map<Address, ModelMember>()

  constructor(feeBps: bigint) {
    this.feeBps = feeBps
  }

  /** Every address that ever joined. */
  get memberCount(): number {
    return this.members.size
  }

  addresses(): Address[] {
    return [...this.members.keys()]
  }

  status(member: Address): ModelStatus {
    return this.members.get(member)?.status ?? 'none'
  }

  weight(member: Address): bigint {
    return this.members.get(member)?.weight ?? 0n
  }

  revenue(amount: bigint): RevenueSplit {
    if (amount === 0n) return { amount, fee: 0n, delta: 0n }
    this.totalRevenue += amount
    const fee = this.totalWeight === 0n ? amount : (amount * this.feeBps) / MAX_FEE_BPS
    this.adminEarned += fee
    const share = amount - fee
    let delta = 0n
    if (share > 0n) {
      const scaled = share * PRECISION + this.carry
      delta = scaled / this.totalWeight
      this.carry = scaled - delta * this.totalWeight
      this.index += delta
    }
    return { amount, fee, delta }
  }

  join(member: Address, weight: bigint): void {
    if (weight === 0n) throw new ModelRefusal('InvalidWeight')
    const m = this.members.get(member) ?? {
      status: 'none',
      weight: 0n,
      lastIndex: 0n,
      settledScaled: 0n,
      withdrawn: 0n,
    }
    if (m.status === 'active') throw new ModelRefusal('AlreadyMember')
    this.settle(m)
    m.status = 'active'
    m.weight = weight
    this.totalWeight += weight
    this.activeMemberCount += 1
    this.members.set(member, m)
  }

  part(member: Address): void {
    const m = this.active(member)
    this.settle(m)
    this.totalWeight -= m.weight
    m.weight = 0n
    m.status = 'parted'
    this.activeMemberCount -= 1
  }

  setWeight(member: Address, weight: bigint): void {
    if (weight === 0n) throw new ModelRefusal('InvalidWeight')
    const m = this.active(member)
    this.settle(m)
    this.totalWeight += weight - m.weight
    m.weight = weight
  }

  /** A lower fee applies at once; a raise waits a week (the chain's clock doesn't get there in these runs). */
  setFee(feeBps: bigint): void {
    if (feeBps > MAX_FEE_BPS) throw new ModelRefusal('InvalidFee')
    if (feeBps <= this.feeBps) this.feeBps = feeBps
  }

  withdraw(member: Address, amount: bigint): void {
    const m = this.members.get(member)
    if (m === undefined) throw new ModelRefusal('NotMember')
    if (amount === 0n) throw new ModelRefusal('InvalidAmount')
    if (amount > this.withdrawable(member)) throw new ModelRefusal('InsufficientEarnings')
    m.withdrawn += amount
    this.totalWithdrawn += amount
  }

  withdrawAdmin(): bigint {
    const amount = this.adminEarned - this.adminWithdrawn
    if (amount === 0n) throw new ModelRefusal('InvalidAmount')
    this.adminWithdrawn += amount
    return amount
  }

  earned(member: Address): bigint {
    const m = this.members.get(member)
    if (m === undefined) return 0n
    return (m.settledScaled + m.weight * (this.index - m.lastIndex)) / PRECISION
  }

  withdrawn(member: Address): bigint {
    return this.members.get(member)?.withdrawn ?? 0n
  }

  withdrawable(member: Address): bigint {
    return this.earned(member) - this.withdrawn(member)
  }

  /** What the union owes: every member's unwithdrawn earnings and the admin's unwithdrawn fees. */
  claims(): bigint {
    let sum = this.adminEarned - this.adminWithdrawn
    for (const member of this.members.keys()) sum += this.withdrawable(member)
    return sum
  }

  /**
   * The accounted tokens nobody can claim yet, in scaled units (1e18 per wei): every member's fraction of a wei and
   * the remainder carried to the next revenue. A whole number of wei, since nothing is created or lost.
   */
  dustScaled(): bigint {
    let sum = this.carry
    for (const m of this.members.values()) {
      sum += (m.settledScaled + m.weight * (this.index - m.lastIndex)) % PRECISION
    }
    return sum
  }

  /** An independent copy: try an action on it, and keep it only if the action wasn't refused. */
  clone(): DataUnionModel {
    const copy = new DataUnionModel(this.feeBps)
    Object.assign(copy, {
      index: this.index,
      carry: this.carry,
      totalWeight: this.totalWeight,
      activeMemberCount: this.activeMemberCount,
      totalRevenue: this.totalRevenue,
      totalWithdrawn: this.totalWithdrawn,
      adminEarned: this.adminEarned,
      adminWithdrawn: this.adminWithdrawn,
    })
    for (const [address, m] of this.members) copy.members.set(address, { ...m })
    return copy
  }

  /** Tokens accounted and not withdrawn: the union's balance once every arrival is refreshed. */
  accounted(): bigint {
    return this.totalRevenue - this.totalWithdrawn - this.adminWithdrawn
  }

  private active(member: Address): ModelMember {
    const m = this.members.get(member)
    if (m === undefined || m.status !== 'active') throw new ModelRefusal('NotActiveMember')
    return m
  }

  private settle(m: ModelMember): void {
    m.settledScaled += m.weight * (this.index - m.lastIndex)
    m.lastIndex = this.index
  }
}
