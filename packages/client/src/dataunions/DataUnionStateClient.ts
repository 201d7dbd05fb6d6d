import {
  blockCommitFromJson,
  earningsOf,
  memberProofFromJson,
  memberViewFromJson,
  totalsFromJson,
  verifyMemberProof,
  type BlockCommit,
  type DataUnionTotals,
  type MemberEarnings,
  type MemberProof,
  type MemberView,
} from '@runnel/chain'
import { getAddress, isAddress, type Address, type Hex } from 'viem'
import { ClientError } from '../errors.js'

/** The header a state server names itself in. */
const INSTANCE_HEADER = 'x-runnel-instance'

export interface DataUnionStateClientOptions {
  /** Base URLs of the state server instances (at least one). */
  readonly urls: readonly string[]
  /** Per request. Default 5,000 ms. */
  readonly timeoutMs?: number
}

export interface DataUnionStateClientComponents {
  readonly fetch?: typeof fetch
}

/** An instance whose hash isn't the majority's: the client stops asking it. */
export interface DivergedInstance {
  readonly url: string
  readonly instance: string | undefined
  readonly block: bigint
  readonly hash: Hex
  readonly majorityHash: Hex
}

/** How the client sees an instance. */
export interface InstanceStatus {
  readonly url: string
  readonly instance: string | undefined
  readonly diverged: boolean
  /** Queries this client sent it. */
  readonly queries: number
}

/** An answer and who gave it, at which block and state hash. */
export interface Answered<T> {
  readonly url: string
  readonly instance: string | undefined
  readonly block: bigint
  readonly stateHash: Hex
  readonly value: T
}

/** The outcome of {@link DataUnionStateClient.checkConsistency}. */
export interface ConsistencyReport {
  readonly block: bigint
  readonly majorityHash: Hex
  readonly agreeing: readonly string[]
  readonly diverged: readonly DivergedInstance[]
  /** Instances that didn't answer (unreachable, not caught up, block not kept). */
  readonly silent: readonly string[]
}

/** A member's earnings, proven against the hash a majority of instances agree on. */
export interface VerifiedMember extends MemberEarnings {
  readonly proof: MemberProof
  /** The instances whose hash at the proof's block matched (the answering one first). */
  readonly confirmedBy: readonly string[]
}

interface InstanceState {
  readonly url: string
  instance: string | undefined
  diverged: boolean
  queries: number
}

interface Fetched {
  readonly body: unknown
  readonly instance: string | undefined
}

/**
 * Queries replicated Data Union state servers: spreads queries over the instances round-robin, compares their hashes
 * to find one that diverged from the majority (reported, then avoided), and verifies member proofs against the hash a
 * majority agrees on. Browser-safe: `fetch` only.
 *
 * @example
 * ```ts
 * const client = new DataUnionStateClient({ urls: ['http://a:7171', 'http://b:7171', 'http://c:7171'] })
 * client.onDiverged((d) => console.warn(`${d.url} diverged at block ${d.block}`))
 * const { earned, withdrawable } = await client.verifiedMember(union, member)
 * ```
 */
export class DataUnionStateClient {
  private readonly instanceList: InstanceState[]
  private readonly fetchImpl: typeof fetch
  private readonly timeoutMs: number
  private readonly divergedListeners = new Set<(report: DivergedInstance) => void>()
  private cursor = 0

  constructor(options: DataUnionStateClientOptions, components: DataUnionStateClientComponents = {}) {
    if (options.urls.length === 0) throw new ClientError('INVALID_ARGUMENT', 'give at least one instance URL')
    this.instanceList = options.urls.map((url) => ({
      url: url.replace(/\/+$/, ''),
      instance: undefined,
      diverged: false,
      queries: 0,
    }))
    this.fetchImpl = components.fetch ?? ((input, init) => fetch(input, init))
    this.timeoutMs = options.timeoutMs ?? 5_000
  }

  get instances(): readonly InstanceStatus[] {
    return this.instanceList.map((i) => ({ ...i }))
  }

  /** Listens for instances found diverged; returns what stops listening. */
  onDiverged(listener: (report: DivergedInstance) => void): () => void {
    this.divergedListeners.add(listener)
    return () => this.divergedListeners.delete(listener)
  }

  /** A member's record and earnings at one instance's head (unverified: see {@link verifiedMember}). */
  async member(dataUnion: Address, member: Address): Promise<Answered<MemberView>> {
    const path = `/dataunions/${checkAddress(dataUnion)}/members/${checkAddress(member)}`
    return this.query(path, (body) => ({ ...commitOf(body), value: memberViewFromJson(field(body, 'member')) }))
  }

  /** The union's totals at one instance's head. */
  async stats(dataUnion: Address): Promise<Answered<DataUnionTotals>> {
    return this.query(`/dataunions/${checkAddress(dataUnion)}/stats`, (body) => ({
      ...commitOf(body),
      value: totalsFromJson(field(body, 'stats')),
    }))
  }

  /** A page of members, in address order. */
  async members(dataUnion: Address, offset = 0, limit = 100): Promise<Answered<MemberView[]>> {
    const path = `/dataunions/${checkAddress(dataUnion)}/members?offset=${offset}&limit=${limit}`
    return this.query(path, (body) => {
      const members = field(body, 'members')
      if (!Array.isArray(members)) throw badAnswer('members')
      return { ...commitOf(body), value: members.map(memberViewFromJson) }
    })
  }

  /** Every healthy instance's head (or why it has none). */
  async heads(dataUnion: Address): Promise<{ url: string; head?: BlockCommit; error?: unknown }[]> {
    const union = checkAddress(dataUnion)
    return Promise.all(
      this.healthy().map(async (target) => {
        try {
          const { body } = await this.fetchFrom(target, `/dataunions/${union}/head`)
          return { url: target.url, head: blockCommitFromJson(body) }
        } catch (err) {
          return { url: target.url, error: err }
        }
      }),
    )
  }

  /**
   * Compares the healthy instances' hashes at the latest block all that answer have reached. An instance whose hash
   * isn't the majority's is reported (`onDiverged`) and avoided from then on.
   *
   * @throws {@link ClientError} `NO_MAJORITY` when no hash has more than half of the answers
   */
  async checkConsistency(dataUnion: Address): Promise<ConsistencyReport> {
    const union = checkAddress(dataUnion)
    const heads = await this.heads(union)
    const answered = heads.filter((h) => h.head !== undefined)
    if (answered.length === 0) throw new ClientError('NO_INSTANCE', `no instance answered for ${union}`)
    const block = answered.reduce((low, h) => (h.head!.block < low ? h.head!.block : low), answered[0]!.head!.block)
    const hashes = await Promise.all(
      answered.map(async (h) => {
        if (h.head!.block === block) return { url: h.url, hash: h.head!.stateHash }
        return { url: h.url, hash: await this.hashFrom(this.byUrl(h.url), union, block) }
      }),
    )
    const majorityHash = majorityOf(hashes.map((h) => h.hash))
    if (majorityHash === undefined) {
      throw new ClientError('NO_MAJORITY', `the instances don't agree on ${union} at block ${block}`)
    }
    const diverged: DivergedInstance[] = []
    for (const { url, hash } of hashes) {
      if (hash !== undefined && hash !== majorityHash) diverged.push(this.markDiverged(url, block, hash, majorityHash))
    }
    return {
      block,
      majorityHash,
      agreeing: hashes.filter((h) => h.hash === majorityHash).map((h) => h.url),
      diverged,
      silent: [
        ...heads.filter((h) => h.head === undefined).map((h) => h.url),
        ...hashes.filter((h) => h.hash === undefined).map((h) => h.url),
      ],
    }
  }

  /**
   * A member's earnings from one instance's proof, checked against the hash a majority of all configured instances
   * hold at the proof's block. The proof must be of the member and union asked about, at or after the latest block
   * the instances agree on (so an instance can't answer from before a withdrawal), and its numbers must hash to that
   * majority hash. An instance whose answer fails any of this is passed over (and reported when the majority
   * contradicts its hash); one instance saying "no such member" isn't believed until a majority says so.
   *
   * @throws {@link ClientError} `NOT_FOUND` when a majority doesn't know the member; `NO_MAJORITY` when too few
   *   instances confirm any hash; `NO_INSTANCE` when no instance gave an answer that checks out
   */
  async verifiedMember(dataUnion: Address, member: Address): Promise<VerifiedMember> {
    const union = checkAddress(dataUnion)
    const asked = getAddress(checkAddress(member))
    const path = `/dataunions/${union}/proof/${asked}`
    const quorum = Math.floor(this.instanceList.length / 2) + 1
    const { block: agreed } = await this.checkConsistency(union)
    let notFound = 0
    let lastError: unknown
    for (const target of this.rotation()) {
      let proof: MemberProof
      try {
        proof = memberProofFromJson(field((await this.fetchFrom(target, path)).body, 'proof'))
      } catch (err) {
        if (err instanceof ClientError && err.code === 'NOT_FOUND' && ++notFound >= quorum) throw err
        lastError = err
        continue
      }
      if (
        getAddress(proof.record.member) !== asked ||
        getAddress(proof.dataUnion) !== getAddress(union) ||
        proof.block < agreed ||
        !verifyMemberProof(proof, proof.stateHash)
      ) {
        lastError = new ClientError('INVALID_PROOF', `${target.url}'s proof for ${asked} doesn't check out`)
        continue
      }
      const others = this.healthy().filter((other) => other !== target)
      const hashes = await Promise.all(
        others.map(async (other) => ({ url: other.url, hash: await this.hashFrom(other, union, proof.block) })),
      )
      const confirmedBy = [target.url, ...hashes.filter((h) => h.hash === proof.stateHash).map((h) => h.url)]
      if (confirmedBy.length >= quorum) {
        return { proof, confirmedBy, ...earningsOf(proof.record, proof.totals.revenuePerWeight) }
      }
      const counts = new Map<Hex, number>()
      for (const { hash } of hashes) if (hash !== undefined) counts.set(hash, (counts.get(hash) ?? 0) + 1)
      const contradiction = [...counts].find(([, count]) => count >= quorum)
      if (contradiction === undefined) {
        throw new ClientError(
          'NO_MAJORITY',
          `only ${confirmedBy.length} of ${this.instanceList.length} instances confirm block ${proof.block}: retry later`,
        )
      }
      this.markDiverged(target.url, proof.block, proof.stateHash, contradiction[0])
    }
    throw new ClientError('NO_INSTANCE', `no instance gave a proof for ${asked} that checks out`, { cause: lastError })
  }

  // ---- plumbing ----

  private healthy(): InstanceState[] {
    return this.instanceList.filter((i) => !i.diverged)
  }

  /** The healthy instances, starting at the next in round-robin order. */
  private rotation(): InstanceState[] {
    const healthy = this.healthy()
    const start = healthy.length === 0 ? 0 : this.cursor++ % healthy.length
    return [...healthy.slice(start), ...healthy.slice(0, start)]
  }

  private byUrl(url: string): InstanceState {
    return this.instanceList.find((i) => i.url === url)!
  }

  private markDiverged(url: string, block: bigint, hash: Hex, majorityHash: Hex): DivergedInstance {
    const target = this.byUrl(url)
    const report = { url, instance: target.instance, block, hash, majorityHash }
    if (!target.diverged) {
      target.diverged = true
      for (const listener of this.divergedListeners) listener(report)
    }
    return report
  }

  private async query<T>(
    path: string,
    read: (body: unknown) => Omit<Answered<T>, 'url' | 'instance'>,
  ): Promise<Answered<T>> {
    const { target, instance, value } = await this.queryWithTarget(path, read)
    return { ...value, url: target.url, instance }
  }

  /** Asks the next healthy instance (round-robin), moving on to the next when one fails or is unreachable. */
  private async queryWithTarget<T>(
    path: string,
    read: (body: unknown) => T,
  ): Promise<{ target: InstanceState; instance: string | undefined; value: T }> {
    const healthy = this.healthy()
    if (healthy.length === 0) throw new ClientError('NO_INSTANCE', 'every instance diverged')
    let lastError: unknown
    for (let tried = 0; tried < healthy.length; tried++) {
      const target = healthy[this.cursor++ % healthy.length]!
      try {
        const { body, instance } = await this.fetchFrom(target, path)
        return { target, instance, value: read(body) }
      } catch (err) {
        if (err instanceof ClientError && (err.code === 'INVALID_ARGUMENT' || err.code === 'NOT_FOUND')) {
          throw err
        }
        lastError = err
      }
    }
    throw new ClientError('NO_INSTANCE', `no instance answered ${path}`, { cause: lastError })
  }

  private async hashFrom(target: InstanceState, union: Address, block: bigint): Promise<Hex | undefined> {
    try {
      const { body } = await this.fetchFrom(target, `/dataunions/${union}/hash/${block}`)
      return blockCommitFromJson(body).stateHash
    } catch {
      return undefined
    }
  }

  private async fetchFrom(target: InstanceState, path: string): Promise<Fetched> {
    target.queries++
    const response = await this.fetchImpl(`${target.url}${path}`, { signal: AbortSignal.timeout(this.timeoutMs) })
    const instance = response.headers.get(INSTANCE_HEADER) ?? undefined
    if (instance !== undefined) target.instance = instance
    let body: unknown
    try {
      body = await response.json()
    } catch (err) {
      throw new ClientError('BAD_ANSWER', `${target.url} answered ${response.status} without JSON`, {
        cause: err,
      })
    }
    if (response.ok) return { body, instance }
    const message = errorMessageOf(body) ?? `answered ${response.status}`
    if (response.status === 400) throw new ClientError('INVALID_ARGUMENT', message)
    if (response.status === 404) throw new ClientError('NOT_FOUND', message)
    throw new ClientError('NO_INSTANCE', `${target.url}: ${message}`)
  }
}

function checkAddress(address: string): Address {
  if (!isAddress(address, { strict: false })) {
    throw new ClientError('INVALID_ARGUMENT', `not an address: ${String(address).slice(0, 100)}`)
  }
  return getAddress(address)
}

function field(body: unknown, name: string): unknown {
  if (typeof body !== 'object' || body === null) throw badAnswer(name)
  return (body as Record<string, unknown>)[name]
}

function commitOf(body: unknown): { block: bigint; stateHash: Hex } {
  const commit = blockCommitFromJson(body)
  return { block: commit.block, stateHash: commit.stateHash }
}

function badAnswer(name: string): ClientError {
  return new ClientError('BAD_ANSWER', `an instance's answer has no valid ${name}`)
}

function errorMessageOf(body: unknown): string | undefined {
  const error = field(body, 'error')
  if (typeof error !== 'object' || error === null) return undefined
  const message = (error as Record<string, unknown>).message
  return typeof message === 'string' ? message : undefined
}

function majorityOf(hashes: readonly (Hex | undefined)[]): Hex | undefined {
  const counts = new Map<Hex, number>()
  let answered = 0
  for (const hash of hashes) {
    if (hash === undefined) continue
    answered++
    counts.set(hash, (counts.get(hash) ?? 0) + 1)
  }
  for (const [hash, count] of counts) if (count * 2 > answered) return hash
  return undefined
}
