import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { encodeAbiParameters, keccak256, bytesToHex, getAddress, type Address } from 'viem'
import {
  DATA_UNION_PRECISION as PRECISION,
  DataUnionState,
  MemberMerkleTree,
  earningsOf,
  memberLeafHash,
  memberProofFromJson,
  memberProofToJson,
  verifyMemberProof,
  type DataUnionEvent,
  type DataUnionEventBody,
} from '../../src/dataunions/index.js'

const UNION = getAddress('0x00000000000000000000000000000000000d0001')
const ADMIN = getAddress('0x00000000000000000000000000000000000a0001')
const TOKEN = getAddress('0x00000000000000000000000000000000000c0001')
const E18 = 10n ** 18n

function member(i: number): Address {
  return getAddress(`0x${(0x1000 + i).toString(16).padStart(40, '0')}`)
}

/**
 * Writes a chain's events the way the contract would emit them: a small independent model of the contract's
 * revenue math fills in each RevenueReceived's fee and index, so the reducer is checked against it.
 */
class EventWriter {
  readonly events: DataUnionEvent[] = []
  block = 1n
  private logIndex = 0
  private fee = 0
  private weights = new Map<Address, bigint>()
  private totalWeight = 0n
  private index = 0n
  private carry = 0n
  revenue = 0n

  constructor(adminFeeBps: number) {
    this.fee = adminFeeBps
    this.push({ type: 'Initialized', admin: ADMIN, token: TOKEN, adminFeeBps })
  }

  push(body: DataUnionEventBody): void {
    this.events.push({ ...body, blockNumber: this.block, logIndex: this.logIndex++ })
  }

  nextBlock(): void {
    this.block++
    this.logIndex = 0
  }

  isActive(who: Address): boolean {
    return this.weights.has(who)
  }

  join(who: Address, weight: bigint): void {
    this.weights.set(who, weight)
    this.totalWeight += weight
    this.push({ type: 'MemberJoined', member: who, weight })
  }

  part(who: Address): void {
    this.totalWeight -= this.weights.get(who)!
    this.weights.delete(who)
    this.push({ type: 'MemberParted', member: who, by: ADMIN })
  }

  setWeight(who: Address, weight: bigint): void {
    const old = this.weights.get(who)!
    this.totalWeight += weight - old
    this.weights.set(who, weight)
    this.push({ type: 'MemberWeightChanged', member: who, oldWeight: old, newWeight: weight })
  }

  receive(amount: bigint): void {
    this.revenue += amount
    const fee = this.totalWeight === 0n ? amount : (amount * BigInt(this.fee)) / 10_000n
    const share = amount - fee
    if (share > 0n) {
      const scaled = share * E18 + this.carry
      const delta = scaled / this.totalWeight
      this.carry = scaled - delta * this.totalWeight
      this.index += delta
    }
    this.push({ type: 'RevenueReceived', amount, adminFee: fee, revenuePerWeight: this.index })
  }

  setFee(bps: number): void {
    this.fee = bps
    this.push({ type: 'AdminFeeChanged', adminFeeBps: bps })
  }
}

/** Applies `events` block by block, committing every block; returns the hash of each. */
function replay(events: readonly DataUnionEvent[], state = new DataUnionState(UNION)): Map<bigint, string> {
  const hashes = new Map<bigint, string>()
  let block: bigint | undefined
  for (const event of events) {
    if (block !== undefined && event.blockNumber !== block) hashes.set(block, state.commit(block).stateHash)
    block = event.blockNumber
    state.apply(event)
  }
  if (block !== undefined) hashes.set(block, state.commit(block).stateHash)
  return hashes
}

describe('DataUnionState', () => {
  it('encodes a leaf as abi.encode(address, uint8, uint96, uint256, uint256, uint256)', () => {
    const record = {
      member: member(7),
      status: 2,
      weight: 2n ** 96n - 1n,
      lastIndex: 123n * E18,
      settledScaled: 2n ** 255n + 5n,
      withdrawn: 42n,
    }
    const expected = keccak256(
      encodeAbiParameters(
        [
          { type: 'address' },
          { type: 'uint8' },
          { type: 'uint96' },
          { type: 'uint256' },
          { type: 'uint256' },
          { type: 'uint256' },
        ],
        [record.member, record.status, record.weight, record.lastIndex, record.settledScaled, record.withdrawn],
      ),
    )
    assert.equal(bytesToHex(memberLeafHash(record)), expected)
  })

  it('shares revenue by weight after the admin fee and carries the remainder, as the contract does', () => {
    const w = new EventWriter(1_000) // 10 %
    w.receive(100n) // nobody to share with: all to the admin
    w.join(member(1), 1n)
    w.join(member(2), 2n)
    w.nextBlock()
    w.receive(1_000n) // fee 100, share 900 → 300 per weight
    w.nextBlock()
    w.part(member(2))
    w.join(member(3), 3n)
    w.receive(10n) // fee 1, share 9 over weight 4: index += 2.25
    const state = new DataUnionState(UNION)
    replay(w.events, state)
    assert.deepEqual(state.problems, [])
    const totals = state.totals()
    assert.equal(totals.adminEarned, 100n + 100n + 1n)
    assert.equal(totals.totalRevenue, 1_110n)
    assert.equal(totals.revenuePerWeight, 300n * E18 + (9n * E18) / 4n)
    assert.equal(totals.activeMemberCount, 2n)
    assert.equal(totals.memberCount, 3n)
    assert.equal(state.member(member(1))?.earned, 302n) // 300 + 2.25 floored
    assert.equal(state.member(member(2))?.earned, 600n)
    assert.equal(state.member(member(3))?.earned, 6n) // 6.75 floored
    assert.equal(state.member(member(2))?.status, 2)
  })

  it('records a revenue whose index disagrees with its own computation, and keeps its own', () => {
    const w = new EventWriter(0)
    w.join(member(1), 1n)
    w.receive(10n)
    const tampered = w.events.map((event) =>
      event.type === 'RevenueReceived' ? { ...event, amount: event.amount + 1n } : event,
    )
    const honest = new DataUnionState(UNION)
    const fed = new DataUnionState(UNION)
    const honestHashes = replay(w.events, honest)
    const fedHashes = replay(tampered, fed)
    assert.equal(honest.problems.length, 0)
    assert.equal(fed.problems.length, 1)
    assert.match(fed.problems[0]!.message, /revenuePerWeight/)
    assert.equal(fed.totals().revenuePerWeight, 11n * E18)
    assert.notEqual(fedHashes.get(1n), honestHashes.get(1n))
  })

  it('refuses an event out of chain order and a block committed twice', () => {
    const state = new DataUnionState(UNION)
    state.apply({ type: 'MemberJoined', member: member(1), weight: 1n, blockNumber: 5n, logIndex: 3 })
    assert.throws(
      () => state.apply({ type: 'MemberJoined', member: member(2), weight: 1n, blockNumber: 5n, logIndex: 3 }),
      /INVALID_ARGUMENT/,
    )
    assert.throws(() => state.commit(4n), /INVALID_ARGUMENT/)
    state.commit(5n)
    assert.throws(() => state.commit(5n), /INVALID_ARGUMENT/)
  })

  it('answers member proofs that verify against the state hash, and refuses altered ones', () => {
    const w = new EventWriter(500)
    for (let i = 0; i < 37; i++) w.join(member(i), BigInt(1 + (i % 5)))
    w.receive(12_345_678n)
    w.nextBlock()
    w.part(member(3))
    w.receive(999n)
    const state = new DataUnionState(UNION)
    replay(w.events, state)
    const head = state.head!
    for (const i of [0, 3, 17, 36]) {
      const proof = memberProofFromJson(JSON.parse(JSON.stringify(memberProofToJson(state.proof(member(i))!))))
      assert.ok(verifyMemberProof(proof, head.stateHash), `member ${i}`)
      assert.equal(earningsOf(proof.record, proof.totals.revenuePerWeight).earned, state.member(member(i))!.earned)
      const richer = { ...proof, record: { ...proof.record, settledScaled: proof.record.settledScaled + PRECISION } }
      assert.equal(verifyMemberProof(richer, head.stateHash), false)
      const inflated = { ...proof, totals: { ...proof.totals, revenuePerWeight: proof.totals.revenuePerWeight + 1n } }
      assert.equal(verifyMemberProof(inflated, head.stateHash), false)
    }
    assert.equal(state.proof(member(99)), undefined)
  })

  it('updates the Merkle root incrementally to the same root as a tree built from scratch', () => {
    const tree = new MemberMerkleTree()
    const leaves = new Map<Address, Uint8Array>()
    const leafOf = (i: number, version: number): Uint8Array =>
      keccak256(new TextEncoder().encode(`${i}:${version}`), 'bytes')
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 7; k++) {
        const i = (round * 13 + k * 29) % 61
        const leaf = leafOf(i, round)
        tree.set(member(i), leaf)
        leaves.set(member(i), leaf)
      }
      const fresh = new MemberMerkleTree()
      for (const [who, leaf] of [...leaves].reverse()) fresh.set(who, leaf)
      assert.equal(tree.root(), fresh.root(), `round ${round}`)
    }
  })

  it('keeps 10,000 members fast: a block touching 10 of them commits in milliseconds', () => {
    const state = new DataUnionState(UNION)
    let block = 1n
    for (let i = 0; i < 10_000; i++) {
      state.apply({ type: 'MemberJoined', member: member(i), weight: 1n, blockNumber: block, logIndex: i })
    }
    state.commit(block)
    const started = performance.now()
    for (let round = 0; round < 100; round++) {
      block++
      for (let k = 0; k < 10; k++) {
        const who = member((round * 97 + k * 1009) % 10_000)
        state.apply({
          type: 'MemberWeightChanged',
          member: who,
          oldWeight: state.member(who)!.weight,
          newWeight: BigInt(2 + round),
          blockNumber: block,
          logIndex: k,
        })
      }
      state.commit(block)
    }
    const perBlock = (performance.now() - started) / 100
    assert.ok(perBlock < 20, `${perBlock.toFixed(2)} ms per block`)
    assert.deepEqual(state.problems, [])
  })

  it('keeps a bounded history of per-block snapshots', () => {
    const state = new DataUnionState(UNION, { historyBlocks: 3 })
    for (let block = 1n; block <= 5n; block++) state.commit(block)
    assert.equal(state.oldestBlock, 3n)
    assert.equal(state.hashAt(2n), undefined)
    assert.deepEqual(
      state.snapshots().map((s) => s.block),
      [3n, 4n, 5n],
    )
  })

  describe('on random event sequences', () => {
    type Op =
      | { kind: 'join'; who: number; weight: number }
      | { kind: 'part'; who: number }
      | { kind: 'weight'; who: number; weight: number }
      | { kind: 'revenue'; amount: bigint }
      | { kind: 'fee'; bps: number }
      | { kind: 'block' }
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('join' as const), who: fc.nat(15), weight: fc.integer({ min: 1, max: 1_000 }) }),
      fc.record({ kind: fc.constant('part' as const), who: fc.nat(15) }),
      fc.record({ kind: fc.constant('weight' as const), who: fc.nat(15), weight: fc.integer({ min: 1, max: 1_000 }) }),
      fc.record({ kind: fc.constant('revenue' as const), amount: fc.bigInt({ min: 1n, max: 10n ** 24n }) }),
      fc.record({ kind: fc.constant('fee' as const), bps: fc.integer({ min: 0, max: 10_000 }) }),
      fc.record({ kind: fc.constant('block' as const) }),
    )

    function write(ops: readonly Op[], fee: number): EventWriter {
      const w = new EventWriter(fee)
      for (const o of ops) {
        if (o.kind === 'join' && !w.isActive(member(o.who))) w.join(member(o.who), BigInt(o.weight))
        else if (o.kind === 'part' && w.isActive(member(o.who))) w.part(member(o.who))
        else if (o.kind === 'weight' && w.isActive(member(o.who))) w.setWeight(member(o.who), BigInt(o.weight))
        else if (o.kind === 'revenue') w.receive(o.amount)
        else if (o.kind === 'fee') w.setFee(o.bps)
        else if (o.kind === 'block') w.nextBlock()
      }
      return w
    }

    it('conserves revenue: members + admin + carried remainder add up to it exactly (scaled), with < 1 wei each lost to flooring', () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 120 }), fc.integer({ min: 0, max: 10_000 }), (ops, fee) => {
          const w = write(ops, fee)
          const state = new DataUnionState(UNION)
          replay(w.events, state)
          assert.deepEqual(state.problems, [])
          const totals = state.totals()
          const members = state.members(0, 1_000)
          const scaled = members.reduce(
            (sum, m) => sum + m.settledScaled + m.weight * (totals.revenuePerWeight - m.lastIndex),
            0n,
          )
          assert.equal(scaled + totals.carryScaled + totals.adminEarned * PRECISION, w.revenue * PRECISION)
          const floored = members.reduce((sum, m) => sum + m.earned, 0n)
          const dust = w.revenue - totals.adminEarned - floored
          assert.ok(dust >= 0n && dust <= BigInt(members.length) + totals.carryScaled / PRECISION + 1n)
        }),
        { numRuns: 200 },
      )
    })

    it('gives two reducers fed the same sequence the same hash after every block', () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
          const w = write(ops, 250)
          assert.deepEqual(replay(w.events), replay(w.events))
        }),
        { numRuns: 100 },
      )
    })
  })
})
