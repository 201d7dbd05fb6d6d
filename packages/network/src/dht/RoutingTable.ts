import type { NodeDescriptor, NodeId } from '../identity.js'
import { DHT_KEY_LENGTH, commonPrefixLength, compareDistance } from './keys.js'

/** A node the routing table knows, with what the cap and the eviction policy need. */
export interface Contact {
  readonly descriptor: NodeDescriptor
  /** The node id's 20 bytes. */
  readonly key: Uint8Array
  /** Network group of the address it connected from (see `subnetGroup`); undefined when exempt. */
  readonly group: string | undefined
  /** Last time it was heard from: a connection, an answer. */
  lastSeen: number
  /**
   * The descriptor this node id had here before its latest connection came
   * from other addresses: either the same node restarted elsewhere, or
   * another process with the same key. Told to the node id itself when it
   * looks itself up (see `DhtAnswers`), so it can dial there and find out.
   */
  previous?: NodeDescriptor
}

export interface RoutingTableOptions {
  /** Contacts per bucket. */
  readonly k: number
  /** Contacts of one network group per bucket. */
  readonly maxPerSubnetPerBucket: number
  /** Candidates kept per bucket for when a contact fails. Default k. */
  readonly replacementCacheSize?: number
}

/** What {@link RoutingTable.add} did. */
export type AddResult =
  | { readonly kind: 'added' }
  | { readonly kind: 'updated' }
  /**
   * The bucket is full: the newcomer waits in the replacement cache. The
   * caller pings `leastRecentlySeen` and calls `touch` if it answers, or
   * `remove` (which promotes the newest replacement) if it doesn't.
   */
  | { readonly kind: 'bucket-full'; readonly leastRecentlySeen: Contact }
  | { readonly kind: 'refused'; readonly reason: 'self' | 'subnet-cap' }

interface Bucket {
  /** Least recently seen first. */
  readonly contacts: Contact[]
  /** Newest last. */
  readonly replacements: Contact[]
  /** Last time a lookup went through this bucket's range, for refreshes. */
  usedAt: number
}

/**
 * Kademlia k-buckets around a local id: bucket i holds the nodes whose id
 * shares exactly i leading bits with the local id. A full bucket keeps its
 * old contacts while they answer (long-lived nodes are the likeliest to stay),
 * and holds newcomers in a replacement cache. A pure data structure: time is
 * an input, pings are the caller's.
 *
 * Bounds: 160 buckets × (k contacts + replacement cache).
 */
export class RoutingTable {
  /**
   * Made on first use: a node of a network of n uses about log2(n) + 8 of the
   * 160, and 160 eager buckets of two arrays each were 16 KiB of a simulated
   * node's memory. A missing bucket is empty and was last used at `createdAt`.
   */
  private readonly buckets: (Bucket | undefined)[] = []
  private readonly byId = new Map<NodeId, Contact>()
  private readonly replacementCacheSize: number

  constructor(
    readonly localKey: Uint8Array,
    private readonly options: RoutingTableOptions,
    private readonly createdAt = 0,
  ) {
    this.replacementCacheSize = options.replacementCacheSize ?? options.k
  }

  get size(): number {
    return this.byId.size
  }

  get(nodeId: NodeId): Contact | undefined {
    return this.byId.get(nodeId)
  }

  has(nodeId: NodeId): boolean {
    return this.byId.has(nodeId)
  }

  contacts(): IterableIterator<Contact> {
    return this.byId.values()
  }

  bucketIndexOf(key: Uint8Array): number {
    return commonPrefixLength(this.localKey, key)
  }

  /** Adds or refreshes a contact (see {@link AddResult}). */
  add(contact: Contact): AddResult {
    const index = this.bucketIndexOf(contact.key)
    if (index >= BUCKET_COUNT) return { kind: 'refused', reason: 'self' }
    const bucket = this.bucketAt(index)
    const existing = this.byId.get(contact.descriptor.nodeId)
    if (existing !== undefined) {
      // Seen again, maybe with new addresses: newest descriptor, most recently seen.
      if (!sameAddresses(existing.descriptor, contact.descriptor)) contact.previous = existing.descriptor
      removeFrom(bucket.contacts, existing)
      bucket.contacts.push(contact)
      this.byId.set(contact.descriptor.nodeId, contact)
      return { kind: 'updated' }
    }
    if (!this.fitsSubnetCap(bucket.contacts, contact.group)) return { kind: 'refused', reason: 'subnet-cap' }
    if (bucket.contacts.length < this.options.k) {
      bucket.contacts.push(contact)
      this.byId.set(contact.descriptor.nodeId, contact)
      removeFrom(bucket.replacements, contact)
      return { kind: 'added' }
    }
    const cached = bucket.replacements.findIndex((c) => c.descriptor.nodeId === contact.descriptor.nodeId)
    if (cached >= 0) bucket.replacements.splice(cached, 1)
    bucket.replacements.push(contact)
    if (bucket.replacements.length > this.replacementCacheSize) bucket.replacements.shift()
    return { kind: 'bucket-full', leastRecentlySeen: bucket.contacts[0]! }
  }

  /** Marks a contact as just heard from. */
  touch(nodeId: NodeId, now: number): void {
    const contact = this.byId.get(nodeId)
    if (contact === undefined) return
    contact.lastSeen = now
    const bucket = this.bucketAt(this.bucketIndexOf(contact.key))
    removeFrom(bucket.contacts, contact)
    bucket.contacts.push(contact)
  }

  /**
   * Drops a contact (it failed to answer) and promotes the newest replacement
   * that fits the subnet cap. Returns the removed contact.
   */
  remove(nodeId: NodeId): Contact | undefined {
    const contact = this.byId.get(nodeId)
    if (contact === undefined) return undefined
    this.byId.delete(nodeId)
    const bucket = this.bucketAt(this.bucketIndexOf(contact.key))
    removeFrom(bucket.contacts, contact)
    for (let index = bucket.replacements.length - 1; index >= 0; index--) {
      const replacement = bucket.replacements[index]!
      if (!this.fitsSubnetCap(bucket.contacts, replacement.group)) continue
      bucket.replacements.splice(index, 1)
      bucket.contacts.push(replacement)
      this.byId.set(replacement.descriptor.nodeId, replacement)
      break
    }
    return contact
  }

  /** Forgets a node that sits in a replacement cache (it failed while waiting). */
  removeReplacement(nodeId: NodeId, key: Uint8Array): void {
    const bucket = this.buckets[this.bucketIndexOf(key)]
    if (bucket === undefined) return
    const index = bucket.replacements.findIndex((c) => c.descriptor.nodeId === nodeId)
    if (index >= 0) bucket.replacements.splice(index, 1)
  }

  /** Up to `count` contacts closest to `target`, closest first. */
  closest(target: Uint8Array, count: number, exclude?: NodeId): Contact[] {
    const result: Contact[] = []
    for (const contact of this.byId.values()) {
      if (contact.descriptor.nodeId === exclude) continue
      if (result.length < count) result.push(contact)
      else if (count > 0 && compareDistance(target, contact.key, result[count - 1]!.key) < 0)
        result[count - 1] = contact
      else continue
      // Insertion into a short sorted array: count is about k, so this beats sorting every contact.
      for (
        let at = result.length - 1;
        at > 0 && compareDistance(target, result[at]!.key, result[at - 1]!.key) < 0;
        at--
      ) {
        const closer = result[at]!
        result[at] = result[at - 1]!
        result[at - 1] = closer
      }
    }
    return result
  }

  /** Records that a lookup went through the range of the bucket `key` falls in. */
  markUsed(key: Uint8Array, now: number): void {
    const index = this.bucketIndexOf(key)
    if (index < BUCKET_COUNT) this.bucketAt(index).usedAt = now
  }

  /**
   * Indexes of the buckets not used for `staleAfterMs`, from the farthest (0)
   * to one past the deepest non-empty bucket: deeper ones are empty because
   * few nodes exist there, and looking them up finds nothing new.
   */
  staleBuckets(now: number, staleAfterMs: number): number[] {
    const deepest = this.deepestNonEmpty()
    const stale: number[] = []
    for (let index = 0; index <= Math.min(deepest + 1, BUCKET_COUNT - 1); index++) {
      if (now - (this.buckets[index]?.usedAt ?? this.createdAt) >= staleAfterMs) stale.push(index)
    }
    return stale
  }

  /**
   * Indexes of the empty buckets below the deepest non-empty one. After
   * joining, a lookup in each finds a contact there, so the node can route
   * towards every part of the id space it has neighbours in: an empty bucket
   * where nodes exist is where lookups passing through this node get stuck
   * (Kademlia's join refreshes every bucket; the empty ones are what
   * matters, and they are few).
   */
  emptyBuckets(): number[] {
    const deepest = this.deepestNonEmpty()
    const empty: number[] = []
    for (let index = 0; index < deepest; index++) {
      if ((this.buckets[index]?.contacts.length ?? 0) === 0) empty.push(index)
    }
    return empty
  }

  /** Contacts per bucket, for tests and diagnostics. */
  bucketSizes(): number[] {
    return Array.from({ length: BUCKET_COUNT }, (_, index) => this.buckets[index]?.contacts.length ?? 0)
  }

  replacementsOf(bucketIndex: number): readonly Contact[] {
    return this.buckets[bucketIndex]?.replacements ?? []
  }

  private bucketAt(index: number): Bucket {
    let bucket = this.buckets[index]
    if (bucket === undefined) {
      bucket = { contacts: [], replacements: [], usedAt: this.createdAt }
      this.buckets[index] = bucket
    }
    return bucket
  }

  private deepestNonEmpty(): number {
    for (let index = this.buckets.length - 1; index >= 0; index--) {
      if ((this.buckets[index]?.contacts.length ?? 0) > 0) return index
    }
    return -1
  }

  private fitsSubnetCap(contacts: readonly Contact[], group: string | undefined): boolean {
    if (group === undefined) return true
    let same = 0
    for (const contact of contacts) if (contact.group === group) same++
    return same < this.options.maxPerSubnetPerBucket
  }
}

const BUCKET_COUNT = DHT_KEY_LENGTH * 8

function removeFrom(contacts: Contact[], contact: Contact): void {
  const index = contacts.findIndex((c) => c.descriptor.nodeId === contact.descriptor.nodeId)
  if (index >= 0) contacts.splice(index, 1)
}

function sameAddresses(a: NodeDescriptor, b: NodeDescriptor): boolean {
  return (
    a.addresses.length === b.addresses.length && a.addresses.every((address, index) => address === b.addresses[index])
  )
}
