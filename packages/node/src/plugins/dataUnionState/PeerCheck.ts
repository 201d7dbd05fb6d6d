import type { Address, Hex } from 'viem'

/** One instance's hash in a comparison. */
export interface PeerHash {
  /** The peer's URL, or `self`. */
  readonly url: string
  /** The instance id it answers with (`x-runnel-instance`), when it answered. */
  readonly instance: string | undefined
  readonly hash: Hex | undefined
  /** Its hash is the majority's. */
  readonly agrees: boolean
  /** Why it has no hash (unreachable, not caught up, a bad answer). */
  readonly error?: string
}

/** The result of comparing this instance's hash of a union at a block with its peers'. */
export interface PeerComparison {
  readonly dataUnion: Address
  readonly block: bigint
  /** The hash more than half of the answering instances have; undefined when none has a majority. */
  readonly majorityHash: Hex | undefined
  readonly instances: readonly PeerHash[]
  readonly checkedAt: number
}

/** An instance whose hash isn't the majority's (possibly this one: `url` is then `self`). */
export interface DivergenceReport {
  readonly dataUnion: Address
  readonly block: bigint
  readonly url: string
  readonly instance: string | undefined
  readonly hash: Hex
  readonly majorityHash: Hex
}

/** What a peer answered for its head or a block's hash. */
export interface PeerAnswer {
  readonly instance: string | undefined
  readonly block: bigint
  readonly hash: Hex
}

/** The calls a comparison makes to a peer. */
export interface PeerReader {
  head(url: string, dataUnion: Address): Promise<PeerAnswer>
  hashAt(url: string, dataUnion: Address, block: bigint): Promise<PeerAnswer>
}

/**
 * Compares this instance's hash of `dataUnion` with its peers' at the latest block more than half of the instances
 * that answered have reached (never past this instance's own head), and finds the majority: more than half of the
 * instances that answered with a hash. Everything that answered with another hash diverged; a peer behind that
 * block is reported behind, not compared.
 */
export async function comparePeers(
  dataUnion: Address,
  self: { readonly instance: string; readonly head: bigint; hashAt(block: bigint): Hex | undefined },
  peers: readonly string[],
  reader: PeerReader,
  now: () => number,
): Promise<PeerComparison> {
  const heads = await Promise.all(
    peers.map((url) =>
      reader.head(url, dataUnion).then(
        (answer) => ({ url, answer, error: undefined }),
        (err: unknown) => ({ url, answer: undefined, error: errorText(err) }),
      ),
    ),
  )
  const block = comparisonBlock(
    self.head,
    heads.flatMap(({ answer }) => (answer === undefined ? [] : [answer.block])),
  )
  const own = self.hashAt(block)
  const answers = await Promise.all(
    heads.map(async ({ url, answer, error }) => {
      if (answer === undefined) return { url, instance: undefined, hash: undefined, error }
      if (answer.block < block) {
        return { url, instance: answer.instance, hash: undefined, error: `behind: at block ${answer.block}` }
      }
      if (answer.block === block) return { url, instance: answer.instance, hash: answer.hash, error: undefined }
      try {
        const atBlock = await reader.hashAt(url, dataUnion, block)
        return { url, instance: atBlock.instance ?? answer.instance, hash: atBlock.hash, error: undefined }
      } catch (err) {
        return { url, instance: answer.instance, hash: undefined, error: errorText(err) }
      }
    }),
  )
  const all = [
    { url: 'self', instance: self.instance, hash: own, error: own === undefined ? 'block not kept' : undefined },
    ...answers,
  ]
  const counts = new Map<Hex, number>()
  let answered = 0
  for (const { hash } of all) {
    if (hash === undefined) continue
    answered++
    counts.set(hash, (counts.get(hash) ?? 0) + 1)
  }
  let majorityHash: Hex | undefined
  for (const [hash, count] of counts) if (count * 2 > answered) majorityHash = hash
  return {
    dataUnion,
    block,
    majorityHash,
    checkedAt: now(),
    instances: all.map(({ url, instance, hash, error }) => ({
      url,
      instance,
      hash,
      agrees: hash !== undefined && hash === majorityHash,
      ...(error === undefined ? {} : { error }),
    })),
  }
}

/**
 * The latest block at or below `ownHead` that more than half of the instances (this one and the peers that
 * answered) have reached. Not the lowest head: one peer claiming an old head would otherwise drag every
 * comparison back to a block where all agree, hiding a divergence since.
 */
export function comparisonBlock(ownHead: bigint, peerHeads: readonly bigint[]): bigint {
  const heads = [ownHead, ...peerHeads].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))
  const quorum = heads[Math.floor(heads.length / 2)]!
  return quorum < ownHead ? quorum : ownHead
}

/** The divergences a comparison found. */
export function divergencesOf(comparison: PeerComparison): DivergenceReport[] {
  const { majorityHash } = comparison
  if (majorityHash === undefined) return []
  return comparison.instances
    .filter((peer) => peer.hash !== undefined && peer.hash !== majorityHash)
    .map((peer) => ({
      dataUnion: comparison.dataUnion,
      block: comparison.block,
      url: peer.url,
      instance: peer.instance,
      hash: peer.hash!,
      majorityHash,
    }))
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
