import { NetworkError } from '../errors.js'
import type { NodeDescriptor, NodeId } from '../identity.js'
import { compareDistance, nodeIdToKey } from './keys.js'

/** Asks one node for the nodes it knows closest to the target; rejects when it fails or times out. */
export type LookupQuery = (descriptor: NodeDescriptor, signal: AbortSignal) => Promise<readonly NodeDescriptor[]>

export interface LookupOptions {
  /** How many closest nodes the lookup must have heard from. */
  readonly k: number
  /** Requests in flight at once. */
  readonly alpha: number
  /** Most candidates kept; the farthest are forgotten beyond it. */
  readonly maxCandidates: number
  /** Never queried nor returned (the node itself). */
  readonly localId?: NodeId
  /** Ends the lookup early once a node this returns true for has answered (e.g. a bucket refresh that found someone). */
  readonly enough?: (answered: NodeDescriptor) => boolean
  /**
   * Disjoint paths (S/Kademlia): the seeds are dealt round-robin to this many
   * independent lookups, and no node is asked by two of them, so one path
   * that meets no liar reaches the nodes truly near the target whatever the
   * others are told. Results are merged. Default 1 (a plain lookup).
   */
  readonly paths?: number
  /**
   * The network group of a candidate (its subnet, see `subnetGroup`);
   * undefined when exempt. With `maxPerGroup`, a path keeps at most that many
   * candidates of one group, and the merged result holds at most that many:
   * many identities from one address range then can't crowd out the rest.
   */
  readonly groupOf?: (descriptor: NodeDescriptor) => string | undefined
  readonly maxPerGroup?: number
}

export interface LookupResult {
  /** The k closest nodes that answered, closest first. */
  readonly closest: NodeDescriptor[]
  /** Requests sent. */
  readonly queries: number
  /** Requests that failed or timed out. */
  readonly failures: number
  /** Longest chain of answers that led to a node in `closest` (1: a seed). */
  readonly hops: number
  /** Each path's k closest that answered, closest first (one entry for a plain lookup). */
  readonly paths: NodeDescriptor[][]
}

type State = 'new' | 'pending' | 'answered' | 'failed'

interface Candidate {
  readonly descriptor: NodeDescriptor
  readonly key: Uint8Array
  readonly hops: number
  state: State
  /** Its network group, counted while it is a candidate (a failed one stays counted: it took its place). */
  readonly group: string | undefined
}

/**
 * An iterative Kademlia lookup: keeps a candidate list sorted by distance to
 * `target`, keeps `alpha` queries in flight to the closest candidates not yet
 * asked, and ends once the k closest live candidates have all answered.
 * Failed candidates leave the list, so a dead or lying node costs one request
 * and can't hold a place among the k. Answers can only add candidates, so a
 * node answering with itself or with nobody adds nothing: the honest answers
 * still converge.
 *
 * With `paths` > 1 it runs that many such lookups side by side over disjoint
 * sets of nodes (see {@link LookupOptions.paths}) and merges their results.
 *
 * Bounded: at most `maxCandidates` candidates per path; each node is asked at most once.
 *
 * @example
 * ```ts
 * const { closest } = await runLookup(key, seeds, query, { k: 8, alpha: 3, maxCandidates: 32, paths: 3 })
 * ```
 * @throws {@link NetworkError} `ABORTED` when `signal` aborts
 */
export async function runLookup(
  target: Uint8Array,
  seeds: readonly NodeDescriptor[],
  query: LookupQuery,
  options: LookupOptions,
  signal?: AbortSignal,
): Promise<LookupResult> {
  const pathCount = Math.max(1, Math.min(options.paths ?? 1, seeds.length))
  if (pathCount === 1) return new Lookup(target, query, options, new Set()).run(seeds, signal)
  // One seen-set for all paths: a node one path heard of first is never asked by another.
  const seen = new Set<NodeId>()
  const lookups = Array.from({ length: pathCount }, () => new Lookup(target, query, options, seen))
  const dealt = lookups.map(() => [] as NodeDescriptor[])
  seeds.forEach((seed, index) => dealt[index % pathCount]!.push(seed))
  if (options.enough !== undefined) {
    // Enough on one path is enough for all.
    for (const lookup of lookups) lookup.onEnough = () => lookups.forEach((other) => other.end())
  }
  const results = await Promise.all(lookups.map((lookup, index) => lookup.run(dealt[index]!, signal)))
  return mergeResults(target, results, options)
}

/** The paths' answered nodes as one result: closest first, each once, at most k (and `maxPerGroup` per group). */
function mergeResults(target: Uint8Array, results: readonly LookupResult[], options: LookupOptions): LookupResult {
  const all = results.flatMap((result) =>
    result.closest.map((descriptor) => ({ descriptor, key: nodeIdToKey(descriptor.nodeId) })),
  )
  all.sort((a, b) => compareDistance(target, a.key, b.key))
  const closest: NodeDescriptor[] = []
  const perGroup = new Map<string, number>()
  const ids = new Set<NodeId>()
  for (const { descriptor } of all) {
    if (closest.length === options.k) break
    if (ids.has(descriptor.nodeId)) continue
    const group = options.maxPerGroup === undefined ? undefined : options.groupOf?.(descriptor)
    if (group !== undefined) {
      const count = perGroup.get(group) ?? 0
      if (count >= options.maxPerGroup!) continue
      perGroup.set(group, count + 1)
    }
    ids.add(descriptor.nodeId)
    closest.push(descriptor)
  }
  return {
    closest,
    queries: results.reduce((sum, result) => sum + result.queries, 0),
    failures: results.reduce((sum, result) => sum + result.failures, 0),
    hops: Math.max(...results.map((result) => result.hops)),
    paths: results.map((result) => result.closest),
  }
}

class Lookup {
  private readonly candidates: Candidate[] = []
  /** Candidates per network group, when `maxPerGroup` is set. */
  private readonly perGroup = new Map<string, number>()
  private readonly controller = new AbortController()
  private inFlight = 0
  private queries = 0
  private failures = 0
  private finished = false
  private finish: (() => void) | undefined
  /** Set on the paths of a multi-path lookup: `enough` was met on this one. */
  onEnough: (() => void) | undefined

  /** @param seen every node id seen, so none is asked twice (bounded by queries × k); shared by disjoint paths */
  constructor(
    private readonly target: Uint8Array,
    private readonly query: LookupQuery,
    private readonly options: LookupOptions,
    private readonly seen: Set<NodeId>,
  ) {
    if (options.localId !== undefined) this.seen.add(options.localId)
  }

  /** Ends the lookup now with what it has (another path met `enough`). */
  end(): void {
    if (!this.finished) this.finish?.()
  }

  run(seeds: readonly NodeDescriptor[], signal: AbortSignal | undefined): Promise<LookupResult> {
    return new Promise<LookupResult>((resolve, reject) => {
      const onAbort = (): void => {
        this.stop()
        reject(new NetworkError('ABORTED', 'lookup was aborted', { cause: signal?.reason }))
      }
      if (signal?.aborted === true) {
        onAbort()
        return
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.finish = () => {
        signal?.removeEventListener('abort', onAbort)
        this.stop()
        resolve(this.result())
      }
      for (const seed of seeds) this.addCandidate(seed, 1)
      this.pump()
    })
  }

  private stop(): void {
    this.finished = true
    // Requests still in flight are no longer needed.
    this.controller.abort()
  }

  private result(): LookupResult {
    const closest: NodeDescriptor[] = []
    let hops = 0
    for (const candidate of this.candidates) {
      if (candidate.state !== 'answered') continue
      closest.push(candidate.descriptor)
      hops = Math.max(hops, candidate.hops)
      if (closest.length === this.options.k) break
    }
    return { closest, queries: this.queries, failures: this.failures, hops, paths: [closest] }
  }

  private addCandidate(descriptor: NodeDescriptor, hops: number): void {
    if (this.seen.has(descriptor.nodeId)) return
    this.seen.add(descriptor.nodeId)
    const { maxPerGroup, groupOf } = this.options
    const group = maxPerGroup === undefined ? undefined : groupOf?.(descriptor)
    if (group !== undefined && (this.perGroup.get(group) ?? 0) >= maxPerGroup!) return
    const candidate: Candidate = { descriptor, key: nodeIdToKey(descriptor.nodeId), hops, state: 'new', group }
    let at = this.candidates.length
    while (at > 0 && compareDistance(this.target, candidate.key, this.candidates[at - 1]!.key) < 0) at--
    if (at >= this.options.maxCandidates) return
    this.candidates.splice(at, 0, candidate)
    this.countGroup(group, 1)
    if (this.candidates.length > this.options.maxCandidates) {
      // Forget the farthest one not awaiting an answer.
      for (let index = this.candidates.length - 1; index >= 0; index--) {
        if (this.candidates[index]!.state !== 'pending') {
          this.countGroup(this.candidates[index]!.group, -1)
          this.candidates.splice(index, 1)
          break
        }
      }
    }
  }

  private countGroup(group: string | undefined, change: number): void {
    if (group === undefined) return
    const count = (this.perGroup.get(group) ?? 0) + change
    if (count > 0) this.perGroup.set(group, count)
    else this.perGroup.delete(group)
  }

  private pump(): void {
    if (this.finished) return
    const { k, alpha } = this.options
    let allAnswered = true
    const limit = Math.min(k, this.candidates.length)
    for (let index = 0; index < limit; index++) {
      const candidate = this.candidates[index]!
      if (candidate.state !== 'answered') allAnswered = false
      if (candidate.state === 'new' && this.inFlight < alpha) this.ask(candidate)
    }
    if (allAnswered || this.inFlight === 0) this.finish?.()
  }

  private ask(candidate: Candidate): void {
    candidate.state = 'pending'
    this.inFlight++
    this.queries++
    this.query(candidate.descriptor, this.controller.signal).then(
      (answer) => {
        this.inFlight--
        if (this.finished) return
        candidate.state = 'answered'
        if (this.options.enough?.(candidate.descriptor) === true) {
          this.finish?.()
          this.onEnough?.()
          return
        }
        for (const descriptor of answer) this.addCandidate(descriptor, candidate.hops + 1)
        this.pump()
      },
      () => {
        this.inFlight--
        this.failures++
        if (this.finished) return
        candidate.state = 'failed'
        const index = this.candidates.indexOf(candidate)
        if (index >= 0) this.candidates.splice(index, 1)
        this.pump()
      },
    )
  }
}
