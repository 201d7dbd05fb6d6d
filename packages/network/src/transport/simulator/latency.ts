import { NetworkError } from '../../errors.js'
import { hashString } from './random.js'

/**
 * One-way delay in milliseconds for a frame travelling from address `from` to
 * address `to`. Called once per frame, so it may vary over time; negative or
 * non-finite results count as 0.
 */
export type LatencyModel = (from: string, to: string) => number

/**
 * Every frame takes the same time.
 *
 * @example
 * ```ts
 * const simulator = new Simulator({ latency: constantLatency(25) })
 * ```
 */
export function constantLatency(ms: number): LatencyModel {
  return () => ms
}

/** Settings of {@link regionLatency}. */
export interface RegionLatencyOptions {
  /** Decides which region each address lands in. */
  seed: number
  /** Adds a fixed per-direction delay in `[0, jitterMs)` so peers in one region differ. Default 0. */
  jitterMs?: number
}

/**
 * Places every address in a region, picked by hashing the address with the
 * seed, and delays frames by half the round-trip time between the regions.
 *
 * @param rttMatrixMs `rttMatrixMs[i][j]` is the round trip in ms from region `i` to region `j`
 * @example
 * ```ts
 * const { rtt } = JSON.parse(await readFile('region-rtt-ms.json', 'utf8')) as { rtt: number[][] }
 * const simulator = new Simulator({ latency: regionLatency(rtt, { seed: 7, jitterMs: 2 }) })
 * ```
 */
export function regionLatency(
  rttMatrixMs: readonly (readonly number[])[],
  options: RegionLatencyOptions,
): RegionLatencyModel {
  const regionCount = rttMatrixMs.length
  const isSquare = regionCount > 0 && rttMatrixMs.every((row) => row.length === regionCount)
  if (!isSquare || !rttMatrixMs.every((row) => row.every((ms) => Number.isFinite(ms) && ms >= 0))) {
    throw new NetworkError('INVALID_OPTIONS', 'rttMatrixMs must be a non-empty square matrix of non-negative numbers')
  }
  const jitterMs = options.jitterMs ?? 0
  if (!Number.isFinite(jitterMs) || jitterMs < 0) {
    throw new NetworkError('INVALID_OPTIONS', `jitterMs must be a non-negative number, got ${jitterMs}`)
  }
  // Copied so later changes to the caller's matrix can't alter a running simulation.
  const oneWayMs = rttMatrixMs.map((row) => row.map((rtt) => rtt / 2))
  const { seed } = options
  const regions = new Map<string, number>()
  const regionOf = (address: string): number => {
    let region = regions.get(address)
    if (region === undefined) {
      region = hashString(address, seed) % regionCount
      regions.set(address, region)
    }
    return region
  }
  const jitterSeed = hashString('jitter', seed)
  const model: LatencyModel = (from, to) => {
    const base = oneWayMs[regionOf(from)]?.[regionOf(to)] ?? 0
    return jitterMs === 0 ? base : base + (hashString(to, hashString(from, jitterSeed)) / 0x1_0000_0000) * jitterMs
  }
  return Object.assign(model, { regionOf, oneWayMs })
}

/** A {@link regionLatency} model also tells which region an address is in, and the one-way delays without jitter. */
export interface RegionLatencyModel extends LatencyModel {
  regionOf(address: string): number
  readonly oneWayMs: readonly (readonly number[])[]
}
