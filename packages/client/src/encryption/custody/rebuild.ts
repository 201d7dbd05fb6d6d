import { combine } from 'shamir-secret-sharing'
import { keyCommitment, type KeyCustodyManifest } from './records.js'

/** Subsets of shares tried when the shares at hand don't rebuild the committed key (a node sent a bad share). */
const MAX_COMBINATIONS = 64

/**
 * The key the shares rebuild and the manifest commits to; tries subsets when a node sent a bad share. Undefined
 * when fewer than the threshold are at hand, or no subset tried rebuilds the committed key.
 */
export async function rebuildKey(manifest: KeyCustodyManifest, shares: Uint8Array[]): Promise<Uint8Array | undefined> {
  if (shares.length < manifest.threshold) return undefined
  // More correct shares than the threshold interpolate to the same polynomial, hence the same key.
  const candidates: Uint8Array[][] = [shares]
  for (const subset of subsets(shares, manifest.threshold)) {
    if (candidates.length > MAX_COMBINATIONS) break
    candidates.push(subset)
  }
  for (const candidate of candidates) {
    try {
      const key = await combine(candidate)
      if (key.length === 32 && (await keyCommitment(key)) === manifest.commitment) return key
    } catch {
      // Malformed shares (equal x-coordinates, different lengths): try the next subset.
    }
  }
  return undefined
}

/** The k-element subsets of `items`, lazily. */
function* subsets<T>(items: readonly T[], k: number, start = 0, chosen: T[] = []): Generator<T[]> {
  if (chosen.length === k) {
    yield [...chosen]
    return
  }
  for (let i = start; i <= items.length - (k - chosen.length); i++) {
    chosen.push(items[i]!)
    yield* subsets(items, k, i + 1, chosen)
    chosen.pop()
  }
}
