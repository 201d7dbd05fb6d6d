import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem'
import { memberLeafHash, rootFromPath, type MemberRecord } from './merkle.js'

/** The contract's PRECISION: the index counts token wei per unit of weight, times 1e18. */
export const PRECISION = 10n ** 18n
/** The contract's MAX_FEE_BPS. */
export const MAX_FEE_BPS = 10_000n

/** The union-wide part of the state (DataUnion.Stats, plus the admin and the carried remainder). */
export interface DataUnionTotals {
  readonly admin: Address
  readonly adminFeeBps: number
  readonly totalRevenue: bigint
  readonly totalWithdrawn: bigint
  readonly totalWeight: bigint
  readonly activeMemberCount: bigint
  readonly memberCount: bigint
  readonly revenuePerWeight: bigint
  /** The scaled remainder of the last index division, owed to the next revenue. */
  readonly carryScaled: bigint
  readonly adminEarned: bigint
  readonly adminWithdrawn: bigint
}

/**
 * `keccak256(abi.encode(address admin, uint16 adminFeeBps, uint256 totalRevenue, uint256 totalWithdrawn,
 * uint256 totalWeight, uint256 activeMemberCount, uint256 memberCount, uint256 revenuePerWeight, uint256 carryScaled,
 * uint256 adminEarned, uint256 adminWithdrawn))`.
 */
export function totalsHash(totals: DataUnionTotals): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'address' },
        { type: 'uint16' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'uint256' },
      ],
      [
        totals.admin,
        totals.adminFeeBps,
        totals.totalRevenue,
        totals.totalWithdrawn,
        totals.totalWeight,
        totals.activeMemberCount,
        totals.memberCount,
        totals.revenuePerWeight,
        totals.carryScaled,
        totals.adminEarned,
        totals.adminWithdrawn,
      ],
    ),
  )
}

/**
 * The state hash of a union after a block: `keccak256(abi.encode(address dataUnion, uint256 block,
 * bytes32 membersRoot, bytes32 totalsHash))`. Every honest instance computes the same one from the chain's events.
 */
export function stateHashOf(dataUnion: Address, block: bigint, membersRoot: Hex, totals: Hex): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'address' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }],
      [dataUnion, block, membersRoot, totals],
    ),
  )
}

/** A member's earnings as the contract's `memberInfo` computes them. */
export interface MemberEarnings {
  readonly earned: bigint
  readonly withdrawn: bigint
  readonly withdrawable: bigint
}

/** `earned = (settledScaled + weight × (revenuePerWeight − lastIndex)) / PRECISION`, floored as the contract does. */
export function earningsOf(record: MemberRecord, revenuePerWeight: bigint): MemberEarnings {
  const earned = (record.settledScaled + record.weight * (revenuePerWeight - record.lastIndex)) / PRECISION
  return { earned, withdrawn: record.withdrawn, withdrawable: earned - record.withdrawn }
}

/** A member's record with what proves it part of the state whose hash is `stateHash`. */
export interface MemberProof {
  readonly dataUnion: Address
  readonly block: bigint
  readonly stateHash: Hex
  readonly membersRoot: Hex
  readonly totals: DataUnionTotals
  readonly record: MemberRecord
  /** Sibling hashes from the member's leaf up to `membersRoot`. */
  readonly path: readonly Hex[]
}

/**
 * Checks a member proof against a state hash the caller trusts (the one the instances agree on at `proof.block`):
 * the leaf folds up to the members' root, and the root, the totals, the union and the block hash to `stateHash`.
 * Pure: no I/O, browser-safe.
 *
 * @example
 * ```ts
 * if (verifyMemberProof(proof, agreedHash)) show(earningsOf(proof.record, proof.totals.revenuePerWeight))
 * ```
 */
export function verifyMemberProof(proof: MemberProof, stateHash: Hex): boolean {
  if (proof.stateHash.toLowerCase() !== stateHash.toLowerCase()) return false
  const root = rootFromPath(memberLeafHash(proof.record), proof.path)
  if (root.toLowerCase() !== proof.membersRoot.toLowerCase()) return false
  const expected = stateHashOf(proof.dataUnion, proof.block, root, totalsHash(proof.totals))
  return expected.toLowerCase() === stateHash.toLowerCase()
}
