import { bytesToHex, hexToBytes, keccak256, type Address, type Hex } from 'viem'

/** A member's stored record, as the contract keeps it (its earnings follow from it and the union's index). */
export interface MemberRecord {
  readonly member: Address
  /** 0 None, 1 Active, 2 Parted (DataUnion.Status). */
  readonly status: number
  readonly weight: bigint
  readonly lastIndex: bigint
  readonly settledScaled: bigint
  readonly withdrawn: bigint
}

const ZERO_HASH = new Uint8Array(32)

/** Writes `value` as a 32-byte big-endian word (an ABI-encoded uint) at `offset`. */
function writeWord(out: Uint8Array, offset: number, value: bigint): void {
  // Past 256 bits the word would silently keep the low bits, and a forged number would hash as a real one.
  if (value < 0n || value >> 256n !== 0n) throw new RangeError(`${value} doesn't fit a uint256`)
  let v = value
  for (let i = offset + 31; i >= offset && v > 0n; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
}

/**
 * The leaf of a member: `keccak256(abi.encode(address member, uint8 status, uint96 weight, uint256 lastIndex,
 * uint256 settledScaled, uint256 withdrawn))`. Packed by hand (every field is a static 32-byte word), which is what
 * `encodeAbiParameters` would give, several times faster.
 */
export function memberLeafHash(record: MemberRecord): Uint8Array {
  const out = new Uint8Array(192)
  out.set(hexToBytes(record.member), 12)
  writeWord(out, 32, BigInt(record.status))
  writeWord(out, 64, record.weight)
  writeWord(out, 96, record.lastIndex)
  writeWord(out, 128, record.settledScaled)
  writeWord(out, 160, record.withdrawn)
  return keccak256(out, 'bytes')
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return 0
}

/** An inner node: the hash of its two children, smaller first (so a proof needs no left/right flags). */
export function hashPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(64)
  if (compareBytes(a, b) <= 0) {
    out.set(a, 0)
    out.set(b, 32)
  } else {
    out.set(b, 0)
    out.set(a, 32)
  }
  return keccak256(out, 'bytes')
}

/** Folds a leaf up its path of siblings; the result is the root when the proof is right. */
export function rootFromPath(leaf: Uint8Array, path: readonly Hex[]): Hex {
  let node = leaf
  for (const sibling of path) node = hashPair(node, hexToBytes(sibling))
  return bytesToHex(node)
}

/**
 * The members' Merkle tree: leaves sorted by address (lowercase hex), inner nodes hash sorted pairs, a node without a
 * sibling moves up unchanged, and the empty tree's root is 32 zero bytes. Leaf hashes are cached: a block that changes
 * k members rehashes k leaves and, unless a member joined for the first time (which shifts positions and rebuilds the
 * inner levels), only the k paths above them.
 */
export class MemberMerkleTree {
  private readonly keys: string[] = []
  private readonly leaves: Uint8Array[] = []
  private levels: Uint8Array[][] | undefined
  private readonly dirty = new Set<number>()
  private shifted = false

  get size(): number {
    return this.keys.length
  }

  /** Sets the leaf of `member` (added when new). */
  set(member: Address, leaf: Uint8Array): void {
    const key = member.toLowerCase()
    const index = this.indexOf(key)
    if (index >= 0) {
      this.leaves[index] = leaf
      this.dirty.add(index)
      return
    }
    const at = -index - 1
    this.keys.splice(at, 0, key)
    this.leaves.splice(at, 0, leaf)
    this.shifted = true
  }

  /** The members in address order, from `offset`. */
  members(offset: number, limit: number): readonly string[] {
    return this.keys.slice(offset, offset + limit)
  }

  root(): Hex {
    const levels = this.update()
    const top = levels[levels.length - 1]
    return bytesToHex(top?.[0] ?? ZERO_HASH)
  }

  /** The sibling hashes from `member`'s leaf to the root; undefined for an address that has no leaf. */
  path(member: Address): Hex[] | undefined {
    let index = this.indexOf(member.toLowerCase())
    if (index < 0) return undefined
    const levels = this.update()
    const path: Hex[] = []
    for (let depth = 0; depth < levels.length - 1; depth++) {
      const level = levels[depth]!
      const sibling = index ^ 1
      if (sibling < level.length) path.push(bytesToHex(level[sibling]!))
      index >>= 1
    }
    return path
  }

  /** Binary search: the index of `key`, or `-(insertion point) - 1`. */
  private indexOf(key: string): number {
    let low = 0
    let high = this.keys.length - 1
    while (low <= high) {
      const mid = (low + high) >>> 1
      const at = this.keys[mid]!
      if (at === key) return mid
      if (at < key) low = mid + 1
      else high = mid - 1
    }
    return -low - 1
  }

  private update(): Uint8Array[][] {
    if (this.levels === undefined || this.shifted) {
      this.levels = buildLevels(this.leaves)
    } else if (this.dirty.size > 0) {
      const levels = this.levels
      levels[0] = this.leaves
      let changed = new Set(this.dirty)
      for (let depth = 0; depth < levels.length - 1; depth++) {
        const below = levels[depth]!
        const above = levels[depth + 1]!
        const next = new Set<number>()
        for (const index of changed) {
          const parent = index >> 1
          if (next.has(parent)) continue
          const left = below[parent * 2]!
          const right = below[parent * 2 + 1]
          above[parent] = right === undefined ? left : hashPair(left, right)
          next.add(parent)
        }
        changed = next
      }
    }
    this.shifted = false
    this.dirty.clear()
    return this.levels
  }
}

function buildLevels(leaves: Uint8Array[]): Uint8Array[][] {
  const levels: Uint8Array[][] = [leaves]
  let level = leaves
  while (level.length > 1) {
    const above: Uint8Array[] = new Array<Uint8Array>(Math.ceil(level.length / 2))
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1]
      above[i >> 1] = right === undefined ? level[i]! : hashPair(level[i]!, right)
    }
    levels.push(above)
    level = above
  }
  return levels
}
