import type { RunnelRegistry } from '@runnel/chain'
import {
  sleep,
  splitStreamPartId,
  systemClock,
  type Clock,
  type MessageSigner,
  type SignatureVerifier,
  type StreamPartId,
} from '@runnel/protocol'
import { split } from 'shamir-secret-sharing'
import type { Address } from 'viem'
import { ClientError } from '../../errors.js'
import { GroupKey } from '../GroupKey.js'
import { generateExchangeKeyPair } from '../keyExchange.js'
import type { GroupKeyStore } from '../KeyStore.js'
import { CustodyHttp, type StorageNodeEndpoint } from './custodyHttp.js'
import { rebuildKey } from './rebuild.js'
import {
  MAX_HOLDERS,
  fromBase64,
  keyCommitment,
  openManifest,
  parseShareReply,
  signManifest,
  signShareRequest,
  toBase64,
  type KeyCustodyManifest,
  type ShareDeposit,
} from './records.js'
import { openShareAsRequester, sealShareToNode } from './sealing.js'

/**
 * Threshold custody settings (`encryption.custody` of the client options).
 *
 * @example
 * ```ts
 * createRunnelClient({ auth, encryption: { custody: { threshold: 3 } } }) // 3 of the stream's storage nodes rebuild a key
 * createRunnelClient({ auth, encryption: { custody: { enabled: false } } }) // keys live only with this publisher
 * ```
 */
export interface KeyCustodyOptions {
  /**
   * Whether this client, as a publisher, puts each group key it uses in
   * custody with the stream's storage nodes (when the stream has 2 or more).
   * Default true: history the stream's owner asked to be stored stays
   * readable to permitted subscribers after the publisher is gone.
   * Subscribers always ask custody for a key the publisher didn't give.
   */
  readonly enabled?: boolean
  /**
   * Shares needed to rebuild a key (at least 2; capped at the number of
   * storage nodes that got a share). Default: a majority of them,
   * ⌊n/2⌋ + 1, so fewer than half can never read and up to ⌈n/2⌉ − 1 may be lost.
   */
  readonly threshold?: number
  /** How long one HTTP request to a storage node may take. Default 5 s. */
  readonly requestTimeoutMs?: number
}

/** What key custody needs from the client. */
export interface KeyCustodyComponents {
  /** The client's address, lowercase. */
  readonly address: string
  readonly signer: MessageSigner
  readonly verifier: SignatureVerifier
  readonly registry: Pick<RunnelRegistry, 'getStorageNodes' | 'getStorageNode'>
  readonly keyStore: GroupKeyStore
  /** Reports a key that couldn't be put in custody (nothing waits for a deposit). */
  readonly onError: (error: ClientError) => void
  /** Where time comes from (retry waits, manifest and request times). Default: the system clock. */
  readonly clock?: Clock
}

interface PlannedDeposit {
  readonly node: StorageNodeEndpoint
  readonly deposit: ShareDeposit
  done: boolean
}

interface DepositPlan {
  readonly threshold: number
  readonly holders: PlannedDeposit[]
}

/** Most keys remembered as deposited (oldest forgotten first): bounds memory; a forgotten key is deposited again, harmlessly. */
const MAX_REMEMBERED_KEYS = 10_000
const MAX_DEPOSIT_ATTEMPTS = 3

/**
 * Threshold custody of group keys (docs/encryption.md, "Threshold custody").
 *
 * A publisher splits each group key it uses into n Shamir shares, one per
 * storage node of the stream, any k of which rebuild it, seals each to its
 * node's secp256k1 key and deposits it over the node's HTTP API with a signed
 * manifest. A subscriber the publisher didn't answer asks the storage nodes;
 * each checks the requester's subscribe permission on chain and reseals its
 * share to the request's one-off key; k shares rebuild the key, checked
 * against the manifest's commitment.
 */
export class KeyCustody {
  private readonly deposited = new Set<string>()
  private readonly pending = new Set<Promise<void>>()
  private readonly http: CustodyHttp
  private readonly clock: Clock
  private closed = false

  constructor(
    private readonly components: KeyCustodyComponents,
    private readonly options: KeyCustodyOptions = {},
  ) {
    const { threshold } = options
    if (threshold !== undefined && (!Number.isSafeInteger(threshold) || threshold < 2 || threshold > MAX_HOLDERS)) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `encryption.custody.threshold must be an integer 2–${MAX_HOLDERS}, got ${String(threshold)}`,
      )
    }
    this.http = new CustodyHttp(components.registry, options.requestTimeoutMs ?? 5_000)
    this.clock = components.clock ?? systemClock
  }

  get enabled(): boolean {
    return this.options.enabled ?? true
  }

  // ---- publisher ----

  /**
   * Puts one of this client's keys in custody, once per key, in the background
   * (a publish never waits for it). A failure goes to `onError`.
   */
  deposit(streamId: string, keyId: string): void {
    if (!this.enabled || this.closed) return
    const name = `${streamId}/${keyId}`
    if (this.deposited.has(name)) return
    if (this.deposited.size >= MAX_REMEMBERED_KEYS) this.deposited.delete(this.deposited.values().next().value!)
    this.deposited.add(name)
    const work = this.depositWithRetries(streamId, keyId).catch((err: unknown) =>
      this.components.onError(
        err instanceof ClientError
          ? err
          : new ClientError('STORAGE_UNAVAILABLE', `key ${keyId} of ${streamId} not put in custody: ${String(err)}`, {
              cause: err,
            }),
      ),
    )
    this.pending.add(work)
    void work.finally(() => this.pending.delete(work))
  }

  /**
   * Waits for the deposits under way (at most `timeoutMs`), then stops: no retry starts after this. A publisher
   * leaving calls it, so that what it published can be read without it.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    await this.flush(timeoutMs)
    this.closed = true
  }

  /** Resolves when every deposit started so far has finished (or `timeoutMs` passed). */
  async flush(timeoutMs = 10_000): Promise<void> {
    const stop = new AbortController()
    await Promise.race([
      Promise.allSettled([...this.pending]),
      sleep(this.clock, timeoutMs, stop.signal).catch(() => undefined),
    ])
    stop.abort()
  }

  /**
   * Shares are made once per key: a retry sends the same manifest and shares to the holders that didn't take theirs
   * (a node keeps the first share it gets for a key, so new shares would mix two polynomials).
   */
  private async depositWithRetries(streamId: string, keyId: string): Promise<void> {
    let plan: DepositPlan | null | undefined
    let failures: unknown[] = []
    for (let attempt = 1; attempt <= MAX_DEPOSIT_ATTEMPTS; attempt++) {
      if (attempt > 1) await this.backoff(500 * 2 ** (attempt - 1))
      if (this.closed) return
      try {
        plan ??= await this.plan(streamId, keyId)
      } catch (err) {
        // A key this publisher doesn't have won't appear by waiting.
        if (attempt === MAX_DEPOSIT_ATTEMPTS || (err instanceof ClientError && err.code === 'INVALID_ARGUMENT'))
          throw err
        continue
      }
      if (plan === null) return // fewer than 2 storage nodes: the publisher alone serves this key
      failures = await this.upload(plan)
      if (failures.length === 0) return
    }
    const took = plan!.holders.length - failures.length
    if (took < plan!.threshold) {
      throw new ClientError(
        'STORAGE_UNAVAILABLE',
        `key ${keyId} of ${streamId} not put in custody: only ${took} of the ${plan!.threshold} storage nodes needed took a share`,
        { cause: new AggregateError(failures) },
      )
    }
  }

  /** Who gets a share, and the shares: null when the stream has fewer than 2 storage nodes. */
  private async plan(streamId: string, keyId: string): Promise<DepositPlan | null> {
    const key = await this.components.keyStore.get(this.components.address, keyId)
    if (key === undefined) throw new ClientError('INVALID_ARGUMENT', `no key ${keyId} of this publisher to deposit`)
    const nodes = (await this.http.endpoints(await this.components.registry.getStorageNodes(streamId))).slice(
      0,
      MAX_HOLDERS,
    )
    if (nodes.length < 2) return null
    // Only nodes whose public key checks out against their address on chain get a share.
    const identities = await Promise.all(
      nodes.map((node) =>
        this.http.nodePublicKey(node).then(
          (publicKey) => ({ node, publicKey }),
          () => undefined,
        ),
      ),
    )
    const holders = identities.filter((found) => found !== undefined)
    if (holders.length < 2) {
      throw new ClientError(
        'STORAGE_UNAVAILABLE',
        `key ${keyId} of ${streamId} not put in custody: ${holders.length} of ${nodes.length} storage nodes answered`,
      )
    }
    const threshold = Math.min(this.options.threshold ?? Math.floor(holders.length / 2) + 1, holders.length)
    const manifest: KeyCustodyManifest = {
      version: 1,
      streamId,
      publisherId: this.components.address,
      groupKeyId: keyId,
      threshold,
      holders: holders.map(({ node }) => node.address),
      commitment: await keyCommitment(key.bytes),
      createdAt: this.clock.now(),
    }
    const signed = await signManifest(manifest, this.components.signer)
    const shares = await split(key.bytes, holders.length, threshold)
    const deposits = await Promise.all(
      holders.map(async ({ node, publicKey }, index): Promise<PlannedDeposit> => ({
        node,
        deposit: { ...signed, share: toBase64(await sealShareToNode(publicKey, shares[index]!, signed.manifest)) },
        done: false,
      })),
    )
    return { threshold, holders: deposits }
  }

  /** Sends each holder that hasn't taken its share yet its deposit; returns why the others failed. */
  private async upload(plan: DepositPlan): Promise<unknown[]> {
    const failures: unknown[] = []
    await Promise.all(
      plan.holders
        .filter((holder) => !holder.done)
        .map(async (holder) => {
          try {
            await this.http.call(holder.node, '/custody/shares', holder.deposit)
            holder.done = true
          } catch (err) {
            failures.push(err)
          }
        }),
    )
    return failures
  }

  // ---- subscriber ----

  /**
   * Rebuilds a publisher's key from the shares the stream's storage nodes
   * hold, and keeps it in the key store.
   *
   * @throws {@link ClientError} `KEY_UNAVAILABLE`: refused by the nodes (`cause` holds each node's typed error:
   *   `PERMISSION_DENIED` for a requester without subscribe permission), or fewer than the threshold answered
   */
  async recover(streamPartId: StreamPartId, publisherId: string, keyId: string): Promise<GroupKey> {
    const { streamId } = splitStreamPartId(streamPartId)
    const publisher = publisherId.toLowerCase()
    const pair = await generateExchangeKeyPair()
    const request = await signShareRequest(
      {
        streamId,
        publisherId: publisher,
        groupKeyIds: [keyId],
        requester: this.components.address,
        publicKey: toBase64(pair.publicKey),
        timestamp: this.clock.now(),
      },
      this.components.signer,
    )
    const errors: Error[] = []
    // Shares are grouped by the exact manifest they came with: only shares of one split rebuild the key.
    const groups = new Map<string, { manifest: KeyCustodyManifest; shares: Map<number, Uint8Array> }>()
    const asked = new Set<string>()
    const ask = async (node: StorageNodeEndpoint): Promise<void> => {
      asked.add(node.address)
      try {
        const reply = parseShareReply(await this.http.call(node, '/custody/keys', request))
        for (const deposit of reply.shares) {
          const found = openManifest(deposit, this.components.verifier)
          if (found.publisherId !== publisher || found.groupKeyId !== keyId || found.streamId !== streamId) continue
          const share = await openShareAsRequester(pair, fromBase64(deposit.share), deposit.manifest)
          let group = groups.get(deposit.manifest)
          if (group === undefined) {
            if (groups.size >= MAX_HOLDERS) continue
            group = { manifest: found, shares: new Map() }
            groups.set(deposit.manifest, group)
          }
          // The last byte of a share is its x-coordinate: two copies of one share count once.
          group.shares.set(share[share.length - 1]!, share)
        }
      } catch (err) {
        errors.push(err instanceof Error ? err : new Error(String(err)))
      }
    }
    const current = await this.http.endpoints(await this.components.registry.getStorageNodes(streamId))
    await Promise.all(current.map(ask))
    const enough = (): boolean => [...groups.values()].some((group) => group.shares.size >= group.manifest.threshold)
    // Holders the stream has since let go of may still hold their shares.
    if (!enough()) {
      const others = new Set([...groups.values()].flatMap((group) => group.manifest.holders))
      for (const holder of asked) others.delete(holder)
      await Promise.all((await this.http.endpoints([...others] as Address[])).map(ask))
    }
    let key: Uint8Array | undefined
    for (const group of groups.values()) {
      key = await rebuildKey(group.manifest, [...group.shares.values()])
      if (key !== undefined) break
    }
    if (key === undefined) {
      const refusedAll =
        errors.length > 0 && errors.every((err) => err instanceof ClientError && err.code === 'PERMISSION_DENIED')
      const best = [...groups.values()].sort((a, b) => b.shares.size - a.shares.size)[0]
      const reason = refusedAll
        ? `no permission to obtain the key for ${streamId} from its storage nodes`
        : best === undefined
          ? `no storage node of ${streamId} holds a share of ${publisher}'s key ${keyId}`
          : `${best.shares.size} of the ${best.manifest.threshold} shares needed for ${publisher}'s key ${keyId} of ${streamId} could be obtained`
      throw new ClientError('KEY_UNAVAILABLE', reason, { cause: new AggregateError(errors, 'storage node answers') })
    }
    const groupKey = new GroupKey(keyId, key)
    await this.components.keyStore.add(publisher, groupKey)
    return groupKey
  }

  /** A wait between deposit attempts that doesn't keep a process alive by itself. */
  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms, { unref: true }))
  }
}
