import { getAddress, zeroAddress, type Address, type Hex } from 'viem'
import { ChainError } from '../errors.js'
import { compareEventPositions, type DataUnionEvent, type EventPosition } from './events.js'
import { MemberMerkleTree, memberLeafHash, type MemberRecord } from './merkle.js'
import {
  MAX_FEE_BPS,
  PRECISION,
  earningsOf,
  stateHashOf,
  totalsHash,
  type DataUnionTotals,
  type MemberEarnings,
  type MemberProof,
} from './stateHash.js'

/** DataUnion.Status. */
export const MEMBER_STATUS = Object.freeze({ none: 0, active: 1, parted: 2 })

/** The state after a block: what instances compare. */
export interface BlockCommit {
  readonly block: bigint
  readonly stateHash: Hex
  readonly membersRoot: Hex
  readonly totalsHash: Hex
}

/** One block of "earnings over time": the union's totals after it. */
export interface BlockSnapshot extends BlockCommit {
  readonly totalRevenue: bigint
  readonly totalWithdrawn: bigint
  readonly adminEarned: bigint
  readonly revenuePerWeight: bigint
  readonly totalWeight: bigint
  readonly activeMemberCount: bigint
  readonly memberCount: bigint
  /** Events applied in this block. */
  readonly events: number
}

/**
 * An event that disagrees with the state built so far (the contract's index after a revenue differs from the one
 * computed here, a part of a member that isn't active…). The reducer keeps its own computation and records the
 * disagreement: on an honest feed of the chain's events there is none.
 */
export interface StateProblem extends EventPosition {
  readonly event: DataUnionEvent['type']
  readonly message: string
}

/** A member's record and its earnings at the head. */
export interface MemberView extends MemberRecord, MemberEarnings {}

/** The union's figures at the head. */
export interface DataUnionStats extends DataUnionTotals {
  readonly dataUnion: Address
  readonly head: BlockCommit | undefined
  readonly eventsApplied: number
  readonly problemCount: number
  readonly joinAgents: readonly Address[]
}

export interface DataUnionStateOptions {
  /** Blocks whose hash and snapshot are kept (oldest dropped first). Default 10,000. */
  readonly historyBlocks?: number
  /** Problems kept (oldest dropped first). Default 1,000. */
  readonly maxProblems?: number
}

interface MutableMember {
  readonly address: Address
  status: number
  weight: bigint
  lastIndex: bigint
  settledScaled: bigint
  withdrawn: bigint
}

/**
 * A Data Union's complete state, built from its events alone: a pure, deterministic reducer (no I/O, browser-safe).
 * Apply each block's events in (blockNumber, logIndex) order, then {@link commit} the block to get its state hash.
 * The accounting is the contract's, in bigint: revenue raises one index (scaled by 1e18) with the division's remainder
 * carried, and a member's earnings are settled from it whenever the member is touched.
 *
 * @example
 * ```ts
 * const state = new DataUnionState(dataUnion)
 * for (const event of eventsOfBlock) state.apply(event)
 * const { stateHash } = state.commit(blockNumber)
 * ```
 */
export class DataUnionState {
  readonly dataUnion: Address
  private readonly historyBlocks: number
  private readonly maxProblems: number
  private readonly records = new Map<string, MutableMember>()
  private readonly tree = new MemberMerkleTree()
  private readonly touched = new Set<string>()
  private readonly joinAgentSet = new Set<Address>()
  private readonly history = new Map<bigint, BlockSnapshot>()
  private readonly problemList: StateProblem[] = []
  private problemTotal = 0
  private last: EventPosition | undefined
  private headCommit: BlockCommit | undefined
  private eventCount = 0
  private eventsInBlock = 0
  private totalsChanged = true
  private cachedTotalsHash: Hex | undefined

  private admin: Address = zeroAddress
  private adminFeeBps = 0
  private pendingAdminFee: { readonly adminFeeBps: number; readonly effectiveAt: bigint } | undefined
  private totalRevenue = 0n
  private totalWithdrawn = 0n
  private totalWeight = 0n
  private activeMemberCount = 0n
  private memberCount = 0n
  private revenuePerWeight = 0n
  private carryScaled = 0n
  private adminEarned = 0n
  private adminWithdrawn = 0n

  constructor(dataUnion: Address, options: DataUnionStateOptions = {}) {
    this.dataUnion = getAddress(dataUnion)
    this.historyBlocks = options.historyBlocks ?? 10_000
    this.maxProblems = options.maxProblems ?? 1_000
  }

  /**
   * Applies one event. Events must come in chain order and after the last committed block.
   *
   * @throws {@link ChainError} `INVALID_ARGUMENT` for an event out of order
   */
  apply(event: DataUnionEvent): void {
    if (this.last !== undefined && compareEventPositions(event, this.last) <= 0) {
      throw new ChainError(
        'INVALID_ARGUMENT',
        `event at block ${event.blockNumber} log ${event.logIndex} is not after block ${this.last.blockNumber} log ${this.last.logIndex}`,
      )
    }
    if (this.headCommit !== undefined && event.blockNumber <= this.headCommit.block) {
      throw new ChainError(
        'INVALID_ARGUMENT',
        `event at block ${event.blockNumber}: block ${this.headCommit.block} is already committed`,
      )
    }
    this.last = event
    this.eventCount++
    this.eventsInBlock++
    this.totalsChanged = true
    switch (event.type) {
      case 'Initialized':
        this.admin = getAddress(event.admin)
        this.adminFeeBps = event.adminFeeBps
        break
      case 'MemberJoined':
        this.join(event, event.member, event.weight)
        break
      case 'MemberParted':
        this.part(event, event.member)
        break
      case 'MemberWeightChanged':
        this.changeWeight(event, event.member, event.oldWeight, event.newWeight)
        break
      case 'RevenueReceived':
        this.receive(event, event.amount, event.adminFee, event.revenuePerWeight)
        break
      case 'Withdrawal':
        this.withdraw(event, event.member, event.amount)
        break
      case 'AdminWithdrawal':
        if (event.amount > this.adminEarned - this.adminWithdrawn) {
          this.problem(event, `admin withdrew ${event.amount}, more than its ${this.adminEarned - this.adminWithdrawn}`)
        }
        this.adminWithdrawn += event.amount
        break
      case 'AdminFeeChanged':
        if (BigInt(event.adminFeeBps) > MAX_FEE_BPS) this.problem(event, `fee ${event.adminFeeBps} bps above 100%`)
        this.adminFeeBps = event.adminFeeBps
        // A lower fee cancels a pending raise; a raise coming due is this very change.
        this.pendingAdminFee = undefined
        break
      case 'AdminFeeRaiseScheduled':
        // Nothing is accounted differently until the contract applies it, with an AdminFeeChanged of its own: the
        // hash covers what is accounted, and a pending raise is shown in the stats only.
        this.pendingAdminFee = { adminFeeBps: event.adminFeeBps, effectiveAt: event.effectiveAt }
        break
      case 'AdminChanged':
        this.admin = getAddress(event.newAdmin)
        break
      case 'JoinAgentAdded':
        this.joinAgentSet.add(getAddress(event.agent))
        break
      case 'JoinAgentRemoved':
        this.joinAgentSet.delete(getAddress(event.agent))
        break
    }
  }

  /**
   * Ends `block`: rehashes the members it touched and records the block's state hash and snapshot. Commit every
   * block (also those without events) to have a hash per block.
   *
   * @throws {@link ChainError} `INVALID_ARGUMENT` for a block not after the head, or before an applied event
   */
  commit(block: bigint): BlockCommit {
    if (this.headCommit !== undefined && block <= this.headCommit.block) {
      throw new ChainError('INVALID_ARGUMENT', `block ${block} is not after the head ${this.headCommit.block}`)
    }
    if (this.last !== undefined && this.last.blockNumber > block) {
      throw new ChainError('INVALID_ARGUMENT', `block ${block} is before an applied event (${this.last.blockNumber})`)
    }
    for (const key of this.touched) {
      this.tree.set(key as Address, memberLeafHash(recordOf(this.records.get(key)!)))
    }
    this.touched.clear()
    if (this.totalsChanged || this.cachedTotalsHash === undefined) {
      this.cachedTotalsHash = totalsHash(this.totals())
      this.totalsChanged = false
    }
    const membersRoot = this.tree.root()
    const commit: BlockCommit = {
      block,
      membersRoot,
      totalsHash: this.cachedTotalsHash,
      stateHash: stateHashOf(this.dataUnion, block, membersRoot, this.cachedTotalsHash),
    }
    this.headCommit = commit
    this.history.set(block, {
      ...commit,
      totalRevenue: this.totalRevenue,
      totalWithdrawn: this.totalWithdrawn,
      adminEarned: this.adminEarned,
      revenuePerWeight: this.revenuePerWeight,
      totalWeight: this.totalWeight,
      activeMemberCount: this.activeMemberCount,
      memberCount: this.memberCount,
      events: this.eventsInBlock,
    })
    this.eventsInBlock = 0
    if (this.history.size > this.historyBlocks) this.history.delete(this.history.keys().next().value!)
    return commit
  }

  /** The last committed block, or undefined before the first commit. */
  get head(): BlockCommit | undefined {
    return this.headCommit
  }

  /** The state hash after `block`, while it is in the history. */
  hashAt(block: bigint): Hex | undefined {
    return this.history.get(block)?.stateHash
  }

  /** The snapshot of `block`, while it is in the history. */
  snapshotAt(block: bigint): BlockSnapshot | undefined {
    return this.history.get(block)
  }

  /** Earnings over time: the kept snapshots from `fromBlock` on, oldest first, at most `limit`. */
  snapshots(fromBlock = 0n, limit = Number.POSITIVE_INFINITY): BlockSnapshot[] {
    const out: BlockSnapshot[] = []
    for (const snapshot of this.history.values()) {
      if (snapshot.block < fromBlock) continue
      out.push(snapshot)
      if (out.length >= limit) break
    }
    return out
  }

  /** A raise of the admin fee the admin scheduled and the contract hasn't applied yet (outside the hash). */
  get pendingAdminFeeRaise(): { readonly adminFeeBps: number; readonly effectiveAt: bigint } | undefined {
    return this.pendingAdminFee
  }

  /** The oldest block whose hash is still kept. */
  get oldestBlock(): bigint | undefined {
    return this.history.keys().next().value
  }

  totals(): DataUnionTotals {
    return {
      admin: this.admin,
      adminFeeBps: this.adminFeeBps,
      totalRevenue: this.totalRevenue,
      totalWithdrawn: this.totalWithdrawn,
      totalWeight: this.totalWeight,
      activeMemberCount: this.activeMemberCount,
      memberCount: this.memberCount,
      revenuePerWeight: this.revenuePerWeight,
      carryScaled: this.carryScaled,
      adminEarned: this.adminEarned,
      adminWithdrawn: this.adminWithdrawn,
    }
  }

  stats(): DataUnionStats {
    return {
      ...this.totals(),
      dataUnion: this.dataUnion,
      head: this.headCommit,
      eventsApplied: this.eventCount,
      problemCount: this.problemTotal,
      joinAgents: [...this.joinAgentSet].sort(),
    }
  }

  /** Problems found so far (the latest {@link DataUnionStateOptions.maxProblems}). */
  get problems(): readonly StateProblem[] {
    return this.problemList
  }

  /** A member's record and earnings at the current state; undefined for an address that never joined. */
  member(address: Address): MemberView | undefined {
    const key = address.toLowerCase()
    const record = this.records.get(key)
    if (record === undefined) return undefined
    const view = recordOf(record)
    return { ...view, ...earningsOf(view, this.revenuePerWeight) }
  }

  /** Members in address order (the tree's leaves), from `offset`. */
  members(offset: number, limit: number): MemberView[] {
    return this.tree.members(offset, limit).map((key) => this.member(key as Address)!)
  }

  /**
   * A member's record with its Merkle path, at the head (see `verifyMemberProof`); undefined for an address that
   * never joined as of the head.
   *
   * @throws {@link ChainError} `INVALID_ARGUMENT` while events are applied and their block isn't committed yet
   */
  proof(address: Address): MemberProof | undefined {
    const head = this.headCommit
    if (head === undefined) return undefined
    if (this.eventsInBlock > 0) {
      throw new ChainError('INVALID_ARGUMENT', 'a proof needs the block committed: commit it first')
    }
    const key = address.toLowerCase()
    const record = this.records.get(key)
    const path = this.tree.path(key as Address)
    if (record === undefined || path === undefined) return undefined
    return {
      dataUnion: this.dataUnion,
      block: head.block,
      stateHash: head.stateHash,
      membersRoot: head.membersRoot,
      totals: this.totals(),
      record: recordOf(record),
      path,
    }
  }

  /** The number of members that ever joined. */
  get size(): number {
    return this.records.size
  }

  // ---- the contract's accounting ----

  private touch(member: Address): MutableMember {
    const key = member.toLowerCase()
    let m = this.records.get(key)
    if (m === undefined) {
      m = {
        address: getAddress(member),
        status: MEMBER_STATUS.none,
        weight: 0n,
        lastIndex: 0n,
        settledScaled: 0n,
        withdrawn: 0n,
      }
      this.records.set(key, m)
    }
    this.touched.add(key)
    return m
  }

  private settle(m: MutableMember): void {
    m.settledScaled += m.weight * (this.revenuePerWeight - m.lastIndex)
    m.lastIndex = this.revenuePerWeight
  }

  private join(event: DataUnionEvent, member: Address, weight: bigint): void {
    const m = this.touch(member)
    if (m.status === MEMBER_STATUS.active) {
      this.problem(event, `${member} joined while active`)
      this.totalWeight -= m.weight
      this.activeMemberCount--
    }
    if (weight === 0n) this.problem(event, `${member} joined with weight 0`)
    if (m.status === MEMBER_STATUS.none) this.memberCount++
    this.settle(m)
    m.status = MEMBER_STATUS.active
    m.weight = weight
    this.totalWeight += weight
    this.activeMemberCount++
  }

  private part(event: DataUnionEvent, member: Address): void {
    const m = this.touch(member)
    if (m.status !== MEMBER_STATUS.active) {
      this.problem(event, `${member} parted while not active`)
      return
    }
    this.settle(m)
    this.totalWeight -= m.weight
    m.weight = 0n
    m.status = MEMBER_STATUS.parted
    this.activeMemberCount--
  }

  private changeWeight(event: DataUnionEvent, member: Address, oldWeight: bigint, newWeight: bigint): void {
    const m = this.touch(member)
    if (m.status !== MEMBER_STATUS.active) {
      this.problem(event, `${member}'s weight changed while not active`)
      return
    }
    if (m.weight !== oldWeight) this.problem(event, `${member}'s old weight is ${m.weight} here, ${oldWeight} on chain`)
    this.settle(m)
    this.totalWeight = this.totalWeight - m.weight + newWeight
    m.weight = newWeight
  }

  private receive(event: DataUnionEvent, amount: bigint, reportedFee: bigint, reportedIndex: bigint): void {
    this.totalRevenue += amount
    const fee = this.totalWeight === 0n ? amount : (amount * BigInt(this.adminFeeBps)) / MAX_FEE_BPS
    this.adminEarned += fee
    const share = amount - fee
    if (share > 0n) {
      const scaled = share * PRECISION + this.carryScaled
      const delta = scaled / this.totalWeight
      this.carryScaled = scaled - delta * this.totalWeight
      this.revenuePerWeight += delta
    }
    if (fee !== reportedFee) this.problem(event, `admin fee ${fee} computed here, ${reportedFee} on chain`)
    if (this.revenuePerWeight !== reportedIndex) {
      this.problem(event, `revenuePerWeight ${this.revenuePerWeight} computed here, ${reportedIndex} on chain`)
    }
  }

  private withdraw(event: DataUnionEvent, member: Address, amount: bigint): void {
    const m = this.touch(member)
    if (m.status === MEMBER_STATUS.none) this.problem(event, `${member} withdrew without ever joining`)
    const { withdrawable } = earningsOf(recordOf(m), this.revenuePerWeight)
    if (amount > withdrawable) this.problem(event, `${member} withdrew ${amount}, more than its ${withdrawable}`)
    m.withdrawn += amount
    this.totalWithdrawn += amount
  }

  private problem(event: DataUnionEvent, message: string): void {
    this.problemTotal++
    this.problemList.push({
      blockNumber: event.blockNumber,
      logIndex: event.logIndex,
      transactionHash: event.transactionHash,
      event: event.type,
      message,
    })
    if (this.problemList.length > this.maxProblems) this.problemList.shift()
  }
}

function recordOf(m: MutableMember): MemberRecord {
  return {
    member: m.address,
    status: m.status,
    weight: m.weight,
    lastIndex: m.lastIndex,
    settledScaled: m.settledScaled,
    withdrawn: m.withdrawn,
  }
}
