import { NetworkError } from '../errors.js'

/** Hard upper bound of neighbours per node and stream part. */
export const MAX_DEGREE_LIMIT = 32

/**
 * Target and maximum degree with their defaults (4, and the larger of 8 and
 * the target), validated the same way for nodes and trackers.
 *
 * @throws {@link NetworkError} `INVALID_OPTIONS`
 */
export function resolveDegrees(options: { targetDegree?: number; maxDegree?: number }): {
  targetDegree: number
  maxDegree: number
} {
  const targetDegree = options.targetDegree ?? 4
  const maxDegree = options.maxDegree ?? Math.max(8, targetDegree)
  if (
    !Number.isInteger(targetDegree) ||
    !Number.isInteger(maxDegree) ||
    targetDegree < 1 ||
    maxDegree < targetDegree ||
    maxDegree > MAX_DEGREE_LIMIT
  ) {
    throw new NetworkError(
      'INVALID_OPTIONS',
      `need integers 1 ≤ targetDegree ≤ maxDegree ≤ ${MAX_DEGREE_LIMIT}, got ${targetDegree} and ${maxDegree}`,
    )
  }
  return { targetDegree, maxDegree }
}
