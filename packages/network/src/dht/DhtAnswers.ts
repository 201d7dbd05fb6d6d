import type { Clock, SignatureVerifier } from '@runnel/protocol'
import { TokenBucket } from '../connection/TokenBucket.js'
import type {
  DhtFindNodeRequest,
  DhtFindRecordsRequest,
  DhtStoreRequest,
  SignedDhtRecord,
} from '../generated/runnel/network/v1/network_pb.js'
import { descriptorToProto, type NodeDescriptor, type NodeId } from '../identity.js'
import type { DhtRefusalKey } from './dhtOptions.js'
import type { DhtPeer } from './DhtRequests.js'
import { DHT_KEY_LENGTH, keyToNodeId } from './keys.js'
import { recordFromProto, recordToProto } from './records.js'
import type { RecordStore } from './RecordStore.js'
import type { RoutingTable } from './RoutingTable.js'
import type { Seekers } from './Seekers.js'
import { ipSubnetGroup } from './subnet.js'

export interface DhtAnswersComponents {
  readonly table: RoutingTable
  readonly store: RecordStore
  /** Who sought which keys lately: named in find-records answers. */
  readonly seekers: Seekers
  readonly clock: Clock
  readonly verifier: SignatureVerifier
  readonly localDescriptor: () => NodeDescriptor
  readonly refuse: (reason: DhtRefusalKey, peerId: NodeId, detail?: string) => void
}

export interface DhtAnswersSettings {
  readonly k: number
  /** Loopback addresses are in no network group (see `subnetGroup`). */
  readonly exemptLoopback: boolean
  readonly maxRequestsPerSecond: number
  readonly maxRecordTtlMs: number
}

export type DhtRequestBody =
  | { readonly case: 'dhtFindNodeRequest'; readonly value: DhtFindNodeRequest }
  | { readonly case: 'dhtFindRecordsRequest'; readonly value: DhtFindRecordsRequest }
  | { readonly case: 'dhtStoreRequest'; readonly value: DhtStoreRequest }

/** Most rate buckets kept (one per peer with requests lately); beyond it the table is cleared. */
const MAX_RATE_BUCKETS = 4096

/**
 * The answering side of the DHT's RPC: find-node, find-records and store
 * requests from peers, each through a per-peer rate limit and checked
 * before anything is looked up or stored. Refusals are counted (through
 * `refuse`), never thrown; a refused request gets no answer, a refused
 * record a `stored: false` one with the reason.
 *
 * Bounds: one token bucket per peer with requests lately (at most 4,096).
 */
export class DhtAnswers {
  /** Requests answered. */
  served = 0
  private readonly rateBuckets = new Map<NodeId, TokenBucket>()
  /** Contacts' descriptors as sent, made once per descriptor (a contact's is replaced when it changes). */
  private readonly encoded = new WeakMap<NodeDescriptor, ReturnType<typeof descriptorToProto>>()

  constructor(
    private readonly components: DhtAnswersComponents,
    private readonly settings: DhtAnswersSettings,
  ) {}

  answer(peer: DhtPeer, body: DhtRequestBody): void {
    const { table, store, clock } = this.components
    switch (body.case) {
      case 'dhtFindNodeRequest': {
        if (!this.admit(peer, body.value.key)) return
        const closest = table.closest(body.value.key, this.settings.k, peer.peerId).map((c) => c.descriptor)
        const previous = table.get(peer.peerId)?.previous
        if (previous !== undefined && keyToNodeId(body.value.key) === peer.peerId) {
          // A node looking itself up (a join) hears where its id was before it came from here: if another process
          // with its key is still there, it finds out by dialling it (docs/network.md, "A key in use twice").
          closest.unshift(previous)
          closest.length = Math.min(closest.length, this.settings.k)
        }
        peer.sendControl({
          case: 'dhtFindNodeResponse',
          value: { requestId: body.value.requestId, closest: closest.map((descriptor) => this.encode(descriptor)) },
        })
        return
      }
      case 'dhtFindRecordsRequest': {
        if (!this.admit(peer, body.value.key)) return
        const { key, seeking, requestId } = body.value
        const now = clock.now()
        const closest = table.closest(key, this.settings.k, peer.peerId)
        const records = store.get(key, now)
        // Seekers are a rendezvous for when no one holds a record yet; where records are, askers have entry points
        // to ask, and joiners sent to each other as well end above their target degree (they accept plainly).
        const seekers = this.components.seekers.answer(key, peer.peer, seeking, now, records.length === 0)
        peer.sendControl({
          case: 'dhtFindRecordsResponse',
          value: {
            requestId,
            records: records.map(recordToProto),
            closest: closest.map((c) => this.encode(c.descriptor)),
            seekers: seekers.map((descriptor) => this.encode(descriptor)),
          },
        })
        return
      }
      case 'dhtStoreRequest': {
        // The record's own checks (recordFromProto) cover its key.
        if (!this.admit(peer)) return
        const reason = this.storeFromPeer(peer, body.value.record)
        peer.sendControl({
          case: 'dhtStoreResponse',
          value: { requestId: body.value.requestId, stored: reason === undefined, reason: reason ?? '' },
        })
        return
      }
    }
  }

  private encode(descriptor: NodeDescriptor): ReturnType<typeof descriptorToProto> {
    let proto = this.encoded.get(descriptor)
    if (proto === undefined) {
      proto = descriptorToProto(descriptor)
      this.encoded.set(descriptor, proto)
    }
    return proto
  }

  /** The peer disconnected: its rate bucket goes. */
  forget(peerId: NodeId): void {
    this.rateBuckets.delete(peerId)
  }

  /** Rate limit and key check for an incoming request; false when refused. */
  private admit(peer: DhtPeer, key?: Uint8Array): boolean {
    const { clock, table, refuse } = this.components
    let bucket = this.rateBuckets.get(peer.peerId)
    if (bucket === undefined) {
      if (this.rateBuckets.size >= MAX_RATE_BUCKETS) this.rateBuckets.clear()
      const rate = this.settings.maxRequestsPerSecond
      bucket = new TokenBucket(rate, rate * 2, () => clock.now())
      this.rateBuckets.set(peer.peerId, bucket)
    }
    if (!bucket.take(1)) {
      refuse('rate-limited', peer.peerId)
      return false
    }
    if (key !== undefined && key.length !== DHT_KEY_LENGTH) {
      refuse('bad-key', peer.peerId, `${key.length} bytes`)
      return false
    }
    this.served++
    if (table.has(peer.peerId)) table.touch(peer.peerId, clock.now())
    return true
  }

  /** Validates and stores a record sent by a peer; returns why not, or undefined when stored. */
  private storeFromPeer(peer: DhtPeer, proto: SignedDhtRecord | undefined): string | undefined {
    const { clock, refuse } = this.components
    if (this.components.localDescriptor().kind !== 'full') {
      refuse('record-not-storing', peer.peerId)
      return 'not-storing'
    }
    const now = clock.now()
    const result = recordFromProto(proto, {
      now,
      maxRecordTtlMs: this.settings.maxRecordTtlMs,
      verifier: this.components.verifier,
      key: proto?.key ?? new Uint8Array(0),
    })
    if (!result.ok) {
      refuse(`record-${result.reason}`, peer.peerId)
      return result.reason
    }
    const group = ipSubnetGroup(peer.transportConnection.remoteAddress, this.settings.exemptLoopback)
    const stored = this.components.store.put(result.record, now, group)
    if (stored !== 'stored') {
      refuse(`record-${stored}`, peer.peerId)
      return stored
    }
    return undefined
  }
}
