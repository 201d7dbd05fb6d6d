import { isAddress, isHex, type Address, type Hex } from 'viem'
import { ChainError } from '../errors.js'
import type { BlockCommit, MemberView } from './DataUnionState.js'
import type { MemberRecord } from './merkle.js'
import type { DataUnionTotals, MemberProof } from './stateHash.js'

// The JSON shapes the state servers answer with: bigints as decimal strings, hashes and addresses as 0x-hex. The
// server encodes with these and the SDK decodes with them, so both ends read one definition.

export interface BlockCommitJson {
  readonly block: string
  readonly stateHash: Hex
  readonly membersRoot: Hex
  readonly totalsHash: Hex
}

export interface DataUnionTotalsJson {
  readonly admin: Address
  readonly adminFeeBps: number
  readonly totalRevenue: string
  readonly totalWithdrawn: string
  readonly totalWeight: string
  readonly activeMemberCount: string
  readonly memberCount: string
  readonly revenuePerWeight: string
  readonly carryScaled: string
  readonly adminEarned: string
  readonly adminWithdrawn: string
}

export interface MemberRecordJson {
  readonly member: Address
  readonly status: number
  readonly weight: string
  readonly lastIndex: string
  readonly settledScaled: string
  readonly withdrawn: string
}

export interface MemberViewJson extends MemberRecordJson {
  readonly earned: string
  readonly withdrawable: string
}

export interface MemberProofJson {
  readonly dataUnion: Address
  readonly block: string
  readonly stateHash: Hex
  readonly membersRoot: Hex
  readonly totals: DataUnionTotalsJson
  readonly record: MemberRecordJson
  readonly path: readonly Hex[]
}

export function blockCommitToJson(commit: BlockCommit): BlockCommitJson {
  return {
    block: commit.block.toString(),
    stateHash: commit.stateHash,
    membersRoot: commit.membersRoot,
    totalsHash: commit.totalsHash,
  }
}

export function totalsToJson(totals: DataUnionTotals): DataUnionTotalsJson {
  return {
    admin: totals.admin,
    adminFeeBps: totals.adminFeeBps,
    totalRevenue: totals.totalRevenue.toString(),
    totalWithdrawn: totals.totalWithdrawn.toString(),
    totalWeight: totals.totalWeight.toString(),
    activeMemberCount: totals.activeMemberCount.toString(),
    memberCount: totals.memberCount.toString(),
    revenuePerWeight: totals.revenuePerWeight.toString(),
    carryScaled: totals.carryScaled.toString(),
    adminEarned: totals.adminEarned.toString(),
    adminWithdrawn: totals.adminWithdrawn.toString(),
  }
}

export function memberRecordToJson(record: MemberRecord): MemberRecordJson {
  return {
    member: record.member,
    status: record.status,
    weight: record.weight.toString(),
    lastIndex: record.lastIndex.toString(),
    settledScaled: record.settledScaled.toString(),
    withdrawn: record.withdrawn.toString(),
  }
}

export function memberViewToJson(view: MemberView): MemberViewJson {
  return { ...memberRecordToJson(view), earned: view.earned.toString(), withdrawable: view.withdrawable.toString() }
}

export function memberProofToJson(proof: MemberProof): MemberProofJson {
  return {
    dataUnion: proof.dataUnion,
    block: proof.block.toString(),
    stateHash: proof.stateHash,
    membersRoot: proof.membersRoot,
    totals: totalsToJson(proof.totals),
    record: memberRecordToJson(proof.record),
    path: [...proof.path],
  }
}

// ---- decoding (untrusted: checked field by field) ----

function fail(field: string): never {
  throw new ChainError('INVALID_ARGUMENT', `a state server's answer has a malformed ${field}`)
}

function objectAt(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field)
  return value as Record<string, unknown>
}

/** A decimal uint below 2^`bits`: a larger number would hash as its low bits and pass for another. */
function uintAt(value: unknown, field: string, bits = 256n): bigint {
  if (typeof value !== 'string' || !/^\d{1,78}$/.test(value)) fail(field)
  const n = BigInt(value)
  if (n >> bits !== 0n) fail(field)
  return n
}

function hash32At(value: unknown, field: string): Hex {
  if (typeof value !== 'string' || !isHex(value) || value.length !== 66) fail(field)
  return value
}

function addressAt(value: unknown, field: string): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) fail(field)
  return value
}

function smallIntAt(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) fail(field)
  return value
}

/** @throws {@link ChainError} `INVALID_ARGUMENT` naming the malformed field */
export function blockCommitFromJson(json: unknown): BlockCommit {
  const o = objectAt(json, 'head')
  return {
    block: uintAt(o.block, 'block'),
    stateHash: hash32At(o.stateHash, 'stateHash'),
    membersRoot: hash32At(o.membersRoot, 'membersRoot'),
    totalsHash: hash32At(o.totalsHash, 'totalsHash'),
  }
}

/** @throws {@link ChainError} `INVALID_ARGUMENT` naming the malformed field */
export function totalsFromJson(json: unknown): DataUnionTotals {
  const o = objectAt(json, 'totals')
  return {
    admin: addressAt(o.admin, 'totals.admin'),
    adminFeeBps: smallIntAt(o.adminFeeBps, 'totals.adminFeeBps', 65_535),
    totalRevenue: uintAt(o.totalRevenue, 'totals.totalRevenue'),
    totalWithdrawn: uintAt(o.totalWithdrawn, 'totals.totalWithdrawn'),
    totalWeight: uintAt(o.totalWeight, 'totals.totalWeight'),
    activeMemberCount: uintAt(o.activeMemberCount, 'totals.activeMemberCount'),
    memberCount: uintAt(o.memberCount, 'totals.memberCount'),
    revenuePerWeight: uintAt(o.revenuePerWeight, 'totals.revenuePerWeight'),
    carryScaled: uintAt(o.carryScaled, 'totals.carryScaled'),
    adminEarned: uintAt(o.adminEarned, 'totals.adminEarned'),
    adminWithdrawn: uintAt(o.adminWithdrawn, 'totals.adminWithdrawn'),
  }
}

/** @throws {@link ChainError} `INVALID_ARGUMENT` naming the malformed field */
export function memberRecordFromJson(json: unknown): MemberRecord {
  const o = objectAt(json, 'record')
  return {
    member: addressAt(o.member, 'record.member'),
    status: smallIntAt(o.status, 'record.status', 2),
    weight: uintAt(o.weight, 'record.weight', 96n),
    lastIndex: uintAt(o.lastIndex, 'record.lastIndex'),
    settledScaled: uintAt(o.settledScaled, 'record.settledScaled'),
    withdrawn: uintAt(o.withdrawn, 'record.withdrawn'),
  }
}

/** @throws {@link ChainError} `INVALID_ARGUMENT` naming the malformed field */
export function memberViewFromJson(json: unknown): MemberView {
  const o = objectAt(json, 'member')
  return {
    ...memberRecordFromJson(o),
    earned: uintAt(o.earned, 'earned'),
    withdrawable: uintAt(o.withdrawable, 'withdrawable'),
  }
}

/** At most this many siblings: a tree of 2^64 members. */
const MAX_PATH = 64

/** @throws {@link ChainError} `INVALID_ARGUMENT` naming the malformed field */
export function memberProofFromJson(json: unknown): MemberProof {
  const o = objectAt(json, 'proof')
  if (!Array.isArray(o.path) || o.path.length > MAX_PATH) fail('path')
  return {
    dataUnion: addressAt(o.dataUnion, 'dataUnion'),
    block: uintAt(o.block, 'block'),
    stateHash: hash32At(o.stateHash, 'stateHash'),
    membersRoot: hash32At(o.membersRoot, 'membersRoot'),
    totals: totalsFromJson(o.totals),
    record: memberRecordFromJson(o.record),
    path: (o.path as unknown[]).map((sibling, i) => hash32At(sibling, `path[${i}]`)),
  }
}
