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
}

type State = 'new' | 'pending' | 'answered' | 'failed'

interface Candidate {
  readonly descriptor: NodeDescriptor
  readonly key: Uint8Array
  readonly hops: number
  state: State
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
 * Bounded: at most `maxCandidates` candidates; each node is asked at most once.
 *
 * @throws {@link NetworkError} `ABORTED` when `signal` aborts
 */
export function runLookup(
  target: Uint8Array,
  seeds: readonly NodeDescriptor[],
  query: LookupQuery,
  options: LookupOptions,
  signal?: AbortSignal,
): Promise<LookupResult> {
  return new Lookup(target, query, options).run(seeds, signal)
}

class Lookup {
  private readonly candidates: Candidate[] = []
  /** Every node id seen, so none is asked twice (bounded by queries × k). */
  private readonly seen = new Set<NodeId>()
  private readonly controller = new AbortController()
  private inFlight = 0
  private queries = 0
  private failures = 0
  private finished = false
  private finish: (() => void) | undefined

  constructor(
    private readonly target: Uint8Array,
    private readonly query: LookupQuery,
    private readonly options: LookupOptions,
  ) {
    if (options.localId !== undefined) this.seen.add(options.localId)
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
    return { closest, queries: this.queries, failures: this.failures, hops }
  }

  private addCandidate(descriptor: NodeDescriptor, hops: number): void {
    if (this.seen.has(descriptor.nodeId)) return
    this.seen.add(descriptor.nodeId)
    const candidate: Candidate = { descriptor, key: nodeIdToKey(descriptor.nodeId), hops, state: 'new' }
    let at = this.candidates.length
    while (at > 0 && compareDistance(this.target, candidate.key, this.candidates[at - 1]!.key) < 0) at--
    if (at >= this.options.maxCandidates) return
    this.candidates.splice(at, 0, candidate)
    if (this.candidates.length > this.options.maxCandidates) {
      // Forget the farthest one not awaiting an answer.
      for (let index = this.candidates.length - 1; index >= 0; index--) {
        if (this.candidates[index]!.state !== 'pending') {
          this.candidates.splice(index, 1)
          break
        }
      }
    }
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
