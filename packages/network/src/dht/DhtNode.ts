import type { Clock, MessageSigner, SignatureVerifier, Timer } from '@runnel/protocol'
import { reconnectDelayMs } from '../backoff.js'
import { NetworkError } from '../errors.js'
import type { ControlMessage } from '../generated/runnel/network/v1/network_pb.js'
import type { NodeDescriptor, NodeId } from '../identity.js'
import { errorField, type Logger } from '../logger.js'
import { WEBRTC_ADDRESS_PREFIX, isWebRtcOnly } from '../transport/webrtc/signalling.js'
import {
  MAX_KNOWN_PEERS,
  resolveDhtNodeOptions,
  type DhtMetrics,
  type DhtNodeOptions,
  type DhtRefusalKey,
  type ResolvedDhtNodeOptions,
} from './dhtOptions.js'
import { DhtAnswers } from './DhtAnswers.js'
import { DhtRequests, type DhtConnections, type DhtPeer } from './DhtRequests.js'
import { DHT_KEY_LENGTH, compareDistance, keyToHex, nodeIdToKey, randomKeyInBucket } from './keys.js'
import { runLookup, type LookupQuery } from './Lookup.js'
import { MAX_RECORD_VALUE_BYTES, signRecord, type DhtRecord, type SignedRecord } from './records.js'
import { RecordStore } from './RecordStore.js'
import { RoutingTable, type AddResult, type Contact } from './RoutingTable.js'
import { Seekers } from './Seekers.js'
import { ipSubnetGroup, subnetGroup } from './subnet.js'

export type { DhtRecord } from './records.js'
export type { DhtConnections, DhtPeer } from './DhtRequests.js'
export type { DhtMetrics, DhtNodeOptions, DhtRefusal, DhtRefusalKey } from './dhtOptions.js'

/** Collaborators of a {@link DhtNode}; its settings are {@link DhtNodeOptions}. */
export interface DhtNodeComponents {
  /** Connections to peers: `ConnectionManager` implements it. */
  readonly connections: DhtConnections
  /** The node's key: signs its records. Its address is the node's DHT id. */
  readonly signer: MessageSigner
  /** Checks records' signatures. */
  readonly verifier: SignatureVerifier
  readonly clock: Clock
  readonly logger: Logger
  /** Random numbers in [0, 1) for refresh keys; seeded in simulations. Default `Math.random`. */
  readonly random?: () => number
  /** This node's descriptor (known once its transport started). */
  readonly localDescriptor: () => NodeDescriptor
  /**
   * Told which peer handed this node a WebRTC-only node's descriptor (a
   * lookup answer): signals to dial that node go through it first. The
   * node's `SignalRelay.noteRoute`. (Records say who returned them, in
   * `DhtRecord.from`; discovery notes those routes, as only it can tell a
   * WebRTC-only owner.)
   */
  readonly noteRoute?: (targetId: NodeId, viaPeerId: NodeId) => void
  /**
   * A lookup answer named this node's own id at `descriptor`: where its id
   * was before (docs/network.md, "A key in use twice"). The node's
   * `IdentityCheck.hint`, which dials it to see whether another process
   * with this key runs there.
   */
  readonly onOwnIdSeen?: (descriptor: NodeDescriptor, fromPeerId: NodeId) => void
}

/** Callbacks of a records lookup under way (see {@link DhtNode.findRecords}). */
export interface FindRecordsProgress {
  /** Each answer's records (verified, unexpired), as they arrive. */
  readonly onRecords?: (records: DhtRecord[]) => void
  /** Makes the lookup a seeking one; gets the other seekers each answer names, as they arrive. */
  readonly onSeekers?: (seekers: NodeDescriptor[]) => void
}

/** Candidates a lookup keeps, as a multiple of k: enough to route around failures, bounded. */
const CANDIDATES_PER_K = 4
/** A full bucket's oldest contact heard from more recently than this is taken as alive without a ping. */
const FRESH_CONTACT_MS = 30_000
const MAX_JOIN_RETRY_MS = 60_000
/** Lock owner for connections to WebRTC-only contacts. */
const WEBRTC_CONTACT_LOCK = 'dht-webrtc'
/** A records lookup's closest nodes are where a store made this soon after it goes, without a lookup of its own. */
const CLOSEST_REUSE_MS = 5_000
/** Keys whose last records lookup's closest nodes are kept for a store. */
const MAX_CLOSEST_KEPT = 16

/**
 * A Kademlia DHT node over the node's connections: node ids are the
 * handshake-proven 20-byte addresses, distance is XOR. It keeps k-buckets
 * of full nodes, runs iterative lookups (alpha requests in parallel), and
 * stores signed records for others. docs/network.md ("DHT") describes the
 * protocol, the limits and the wire format.
 *
 * The owner feeds it connection events (`handlePeerReady`, `handlePeerClosed`)
 * and every control message (`handleControl`, which says whether it was a DHT
 * message).
 *
 * @example
 * ```ts
 * const dht = new DhtNode(
 *   { connections, signer, verifier, clock: systemClock, logger, localDescriptor: () => connections.localDescriptor },
 *   { entryPoints: ['ws://198.51.100.7:30300', 'ws://203.0.113.9:30300'] },
 * )
 * await dht.start()
 * await dht.storeRecord(dhtKeyOfStreamPart(streamPartId), value, 60_000)
 * const records = await dht.findRecords(dhtKeyOfStreamPart(streamPartId))
 * ```
 */
export class DhtNode {
  private readonly options: ResolvedDhtNodeOptions
  private readonly localKey: Uint8Array
  private readonly table: RoutingTable
  private readonly store: RecordStore
  private readonly requests: DhtRequests
  private readonly random: () => number
  private readonly answers: DhtAnswers
  private readonly refusedCounts: Partial<Record<DhtRefusalKey, number>> = {}
  private readonly pinging = new Set<NodeId>()
  /** WebRTC-only contacts in the table, their connections locked (see `holdWebRtcContact`). */
  private readonly webRtcContacts = new Set<NodeId>()
  private readonly counters = { lookups: 0, lookupQueries: 0, lookupHops: 0, subnetCapped: 0 }
  private state: 'new' | 'started' | 'stopped' = 'new'
  private joinedNetwork = false
  private joining: Promise<void> | undefined
  /** Join attempts that reached no one since the last that did: the retry window doubles with each. */
  private joinRetries = 0
  private joinTimer: Timer | undefined
  private maintenanceTimer: Timer | undefined
  private refreshing = false
  private lastSequence = 0n
  /** Lookups and dials under way, aborted on stop (one set, not a listener each on a shared signal). */
  private readonly underWay = new Set<AbortController>()
  /** The closest nodes of recent records lookups made after the join, by key: bounded by MAX_CLOSEST_KEPT. */
  private readonly recentClosest = new Map<string, { closest: NodeDescriptor[]; at: number }>()
  /** Resolves once the first join attempt has reached an entry point (or found none up): see {@link ready}. */
  private readonly readyPromise: Promise<void>
  private markReady!: () => void

  constructor(
    private readonly components: DhtNodeComponents,
    options: DhtNodeOptions,
  ) {
    this.options = resolveDhtNodeOptions(options)
    this.localKey = nodeIdToKey(components.signer.address)
    this.random = components.random ?? Math.random
    this.readyPromise = new Promise((resolve) => (this.markReady = resolve))
    const now = components.clock.now()
    this.table = new RoutingTable(this.localKey, this.options, now)
    this.store = new RecordStore(this.options)
    this.answers = new DhtAnswers(
      {
        table: this.table,
        store: this.store,
        seekers: new Seekers(this.random),
        clock: components.clock,
        verifier: components.verifier,
        localDescriptor: components.localDescriptor,
        refuse: (reason, peerId, detail) => this.refuse(reason, peerId, detail),
      },
      this.options,
    )
    this.requests = new DhtRequests(
      {
        connections: components.connections,
        verifier: components.verifier,
        clock: components.clock,
        refuse: (reason, peerId, detail) => this.refuse(reason, peerId, detail),
        noteRoute: components.noteRoute,
        localId: components.signer.address,
        onOwnIdSeen: components.onOwnIdSeen,
      },
      this.options,
    )
  }

  get nodeId(): NodeId {
    return this.components.signer.address
  }

  get metrics(): DhtMetrics {
    return {
      lookups: this.counters.lookups,
      lookupQueries: this.counters.lookupQueries,
      lookupHops: this.counters.lookupHops,
      requestsSent: this.requests.counters.sent,
      requestsServed: this.answers.served,
      timeouts: this.requests.counters.timeouts,
      failures: this.requests.counters.failures,
      refused: { ...this.refusedCounts },
      routingTableSize: this.table.size,
      records: this.store.size,
      subnetCapped: this.counters.subnetCapped,
      webRtcContacts: this.webRtcContacts.size,
    }
  }

  /**
   * True once the node has looked itself up through someone and filled its
   * buckets; false while it is alone (it keeps trying in the background).
   */
  get joined(): boolean {
    return this.joinedNetwork
  }

  /** The routing table's contacts' descriptors, for diagnostics and tests. */
  contacts(): NodeDescriptor[] {
    return [...this.table.contacts()].map((contact) => contact.descriptor)
  }

  /**
   * Where to find this node's network again after a restart: a dialable
   * address of each of up to `max` routing-table contacts, the most recently
   * seen first. Saved and given back as the `knownPeers` option, they let a
   * restarted node rejoin though every entry point is down, or restarted
   * knowing no one.
   *
   * @example
   * ```ts
   * await writeFile(peersFile, JSON.stringify(dht.knownPeers()))
   * // next run
   * new DhtNode(components, { entryPoints, knownPeers: JSON.parse(await readFile(peersFile, 'utf8')) })
   * ```
   */
  knownPeers(max = MAX_KNOWN_PEERS): string[] {
    const contacts = [...this.table.contacts()].sort((a, b) => b.lastSeen - a.lastSeen)
    const addresses: string[] = []
    for (const contact of contacts) {
      if (addresses.length >= max) break
      const address = contact.descriptor.addresses.find((candidate) => !candidate.startsWith(WEBRTC_ADDRESS_PREFIX))
      if (address !== undefined) addresses.push(address)
    }
    return addresses
  }

  /** Contacts per bucket (index = shared prefix length with this node's id). */
  bucketSizes(): number[] {
    return this.table.bucketSizes()
  }

  /**
   * Joins through the entry points (in parallel; those down are skipped) and
   * looks up its own id to fill its buckets. Resolves even when no entry
   * point answers: the node then keeps trying in the background, and joins
   * as soon as one answers or another node connects to it.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new NetworkError('INVALID_STATE', `DHT node is ${this.state}`)
    this.state = 'started'
    const interval = Math.min(this.options.bucketRefreshMs, 60_000)
    this.maintenanceTimer = this.components.clock.setInterval(() => this.maintain(), interval, { unref: true })
    await this.join()
  }

  /**
   * Resolves as soon as the node can look things up: once the first join
   * attempt has connected to an entry point (or found none up), before `start()`'s self-lookup and bucket refreshes, which go on
   * meanwhile. Lookups work from there (they start at the entry points);
   * {@link storeRecord} waits for the join to finish, so records land on
   * the nodes truly closest to their key. Also resolves on stop.
   *
   * @example
   * ```ts
   * void dht.start()
   * await dht.ready()
   * const records = await dht.findRecords(key)
   * ```
   */
  ready(): Promise<void> {
    return this.readyPromise
  }

  /** The join attempt under way (it resolves when it ends, joined or not), or undefined when none is. */
  joinUnderWay(): Promise<void> | undefined {
    return this.joining
  }

  stop(): void {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    this.markReady()
    for (const controller of this.underWay) controller.abort(new NetworkError('ABORTED', 'DHT stopped'))
    this.underWay.clear()
    this.joinTimer?.cancel()
    this.maintenanceTimer?.cancel()
    this.requests.stop()
  }

  /**
   * Handles a DHT message; returns false for any other message (the caller
   * handles those). Malformed messages are refused, counted and logged at
   * debug; none throws.
   */
  handleControl(peer: DhtPeer, message: ControlMessage): boolean {
    const body = message.body
    switch (body.case) {
      case 'dhtFindNodeRequest':
      case 'dhtFindRecordsRequest':
      case 'dhtStoreRequest':
        this.answers.answer(peer, body)
        return true
      case 'dhtFindNodeResponse':
      case 'dhtFindRecordsResponse':
      case 'dhtStoreResponse':
        this.requests.handleResponse(peer, body)
        return true
      default:
        return false
    }
  }

  /**
   * A connection became ready: a full node with an address enters the
   * routing table (light nodes and trackers never do).
   */
  handlePeerReady(peer: DhtPeer): void {
    const descriptor = peer.peer
    if (descriptor.kind !== 'full' || descriptor.addresses.length === 0) return
    if (descriptor.nodeId === this.nodeId) return
    const webRtcOnly = isWebRtcOnly(descriptor.addresses)
    if (webRtcOnly && !this.webRtcContacts.has(descriptor.nodeId)) {
      if (this.webRtcContacts.size >= this.options.maxWebRtcContacts) return
    }
    const contact: Contact = {
      descriptor,
      key: nodeIdToKey(descriptor.nodeId),
      group: subnetGroup(peer.transportConnection.remoteAddress, this.options.exemptLoopback),
      lastSeen: this.components.clock.now(),
    }
    const result = this.table.add(contact)
    if (webRtcOnly) this.holdWebRtcContact(descriptor.nodeId, contact.key, result.kind)
    if (result.kind === 'refused' && result.reason === 'subnet-cap') {
      this.counters.subnetCapped++
      this.components.logger.debug('DHT contact over its subnet cap', {
        peerId: descriptor.nodeId,
        group: contact.group,
      })
    } else if (result.kind === 'bucket-full') {
      this.checkLeastRecentlySeen(result.leastRecentlySeen)
    }
    if (this.state === 'started' && !this.joinedNetwork && this.joining === undefined) {
      // Someone found us while we were alone: now there is someone to look up through.
      this.joinTimer?.cancel()
      void this.join()
    }
  }

  /** The connection to a peer closed: its requests fail now. It stays a contact until it fails to answer. */
  handlePeerClosed(peerId: NodeId): void {
    this.answers.forget(peerId)
    this.requests.handlePeerClosed(peerId)
    if (this.webRtcContacts.has(peerId)) {
      // Unreachable without a relay now: no one should be told of it by this node.
      this.table.remove(peerId)
      this.releaseWebRtcContact(peerId)
    }
  }

  /**
   * A WebRTC-only node can be dialled only through a node connected to it,
   * and lookups name table contacts to others, who then signal through the
   * node that named it: so it is a contact only while connected, and the
   * connection is locked meanwhile (at most `maxWebRtcContacts`). It never
   * waits in a replacement cache, where its connection would be unlocked.
   */
  private holdWebRtcContact(nodeId: NodeId, key: Uint8Array, added: AddResult['kind']): void {
    if (added === 'added' || added === 'updated') {
      if (!this.webRtcContacts.has(nodeId)) {
        this.webRtcContacts.add(nodeId)
        this.components.connections.lock(nodeId, WEBRTC_CONTACT_LOCK)
      }
    } else if (added === 'bucket-full') {
      this.table.removeReplacement(nodeId, key)
    }
  }

  private releaseWebRtcContact(nodeId: NodeId): void {
    if (!this.webRtcContacts.delete(nodeId)) return
    this.components.connections.unlock(nodeId, WEBRTC_CONTACT_LOCK)
  }

  /**
   * The k nodes closest to `key` (this node too, when it is a full node
   * among them), found by an iterative lookup; closest first.
   *
   * @throws {@link NetworkError} `INVALID_ARGUMENT` for a key that isn't 20 bytes; `ABORTED`
   */
  async findClosest(key: Uint8Array, signal?: AbortSignal): Promise<NodeDescriptor[]> {
    checkKey(key)
    const { closest } = await this.lookup(
      key,
      (descriptor, querySignal) => this.requests.findNode(descriptor, key, querySignal),
      signal,
    )
    return this.withSelf(key, closest)
  }

  /**
   * Signs a record of `value` under `key` and stores it at the k nodes
   * closest to `key` (this node among them when it is one). Returns how many
   * stored it. `ttlMs` is capped at `maxRecordTtlMs`.
   *
   * @throws {@link NetworkError} `INVALID_ARGUMENT` for a bad key, a value over 1 KiB or a ttl ≤ 0; `ABORTED`
   */
  async storeRecord(key: Uint8Array, value: Uint8Array, ttlMs: number, signal?: AbortSignal): Promise<number> {
    checkKey(key)
    if (value.length > MAX_RECORD_VALUE_BYTES) {
      throw new NetworkError(
        'INVALID_ARGUMENT',
        `record value of ${value.length} bytes exceeds ${MAX_RECORD_VALUE_BYTES}`,
      )
    }
    if (!(ttlMs > 0)) throw new NetworkError('INVALID_ARGUMENT', `ttlMs must be positive, got ${ttlMs}`)
    const now = this.components.clock.now()
    const sequence = BigInt(now) > this.lastSequence ? BigInt(now) : this.lastSequence + 1n
    this.lastSequence = sequence
    const record = await signRecord(this.components.signer, {
      key,
      value,
      expiresAt: now + Math.min(ttlMs, this.options.maxRecordTtlMs),
      sequence,
    })
    // Stored before the buckets are filled, a record would land on whoever this node's partial view takes for the
    // closest: a wider set than the true k, which lookups from elsewhere see only parts of.
    if (this.joining !== undefined) await abortable(this.joining, signal)
    // The usual store follows a records lookup for the same key (is anyone holding one yet?): that lookup found
    // the closest nodes already, and asking again would cost a lookup's round trips.
    const recent = this.recentClosest.get(keyToHex(key))
    // With disjoint lookup paths, every path's closest nodes store it: liars on some paths can't hide it.
    const closest =
      recent !== undefined && this.components.clock.now() - recent.at <= CLOSEST_REUSE_MS
        ? recent.closest
        : this.withSelf(
            key,
            (await this.lookup(key, (d, querySignal) => this.requests.findNode(d, key, querySignal), signal)).targets,
            this.storeCount,
          )
    const results = await Promise.allSettled(
      closest.map(async (descriptor) => {
        if (descriptor.nodeId === this.nodeId) return this.store.put(record, this.components.clock.now()) === 'stored'
        // A signal of its own per store: with disjoint paths a record goes to many nodes at once, and each request
        // listens on its signal (a dozen listeners on one signal is what Node warns of as a leak).
        const response = await this.requests.store(
          descriptor,
          record,
          signal === undefined ? undefined : AbortSignal.any([signal]),
        )
        return response.stored
      }),
    )
    return results.filter((result) => result.status === 'fulfilled' && result.value).length
  }

  /**
   * The records under `key`, asked of every node along a lookup towards it:
   * verified, unexpired, one per owner (the highest sequence).
   *
   * `progress.onRecords`, when given, gets each answer's records (verified, unexpired) as they
   * arrive: a caller can act on the first ones before the lookup ends. `progress.onSeekers`
   * makes this a seeking lookup: the nodes asked remember this node (a full
   * one) as looking for peers under `key` and name it to later askers, and it
   * gets those they name (other full nodes that sought `key` lately) as they arrive.
   *
   * @throws {@link NetworkError} `INVALID_ARGUMENT` for a key that isn't 20 bytes; `ABORTED`
   */
  async findRecords(key: Uint8Array, signal?: AbortSignal, progress?: FindRecordsProgress): Promise<DhtRecord[]> {
    checkKey(key)
    const byOwner = new Map<NodeId, SignedRecord>()
    const collect = (record: SignedRecord): void => {
      const known = byOwner.get(record.owner)
      if (known === undefined || known.sequence < record.sequence) byOwner.set(record.owner, record)
    }
    for (const record of this.store.get(key, this.components.clock.now())) collect(record)
    const placed = this.joinUnderWay() === undefined
    const { onRecords, onSeekers } = progress ?? {}
    const seeking = onSeekers !== undefined && this.components.localDescriptor().kind === 'full'
    const { targets } = await this.lookup(
      key,
      async (descriptor, querySignal) => {
        const answer = await this.requests.findRecords(descriptor, key, querySignal, seeking)
        for (const record of answer.records) collect(record)
        if (onSeekers !== undefined && answer.seekers.length > 0) {
          const others = answer.seekers.filter((seeker) => seeker.nodeId !== this.nodeId)
          if (others.length > 0) onSeekers(others)
        }
        if (onRecords !== undefined && answer.records.length > 0) {
          const now = this.components.clock.now()
          const arrived = answer.records.filter((record) => record.expiresAt > now).map(publicRecord)
          if (arrived.length > 0) onRecords(arrived)
        }
        return answer.closest
      },
      signal,
    )
    const now = this.components.clock.now()
    if (placed) {
      const hex = keyToHex(key)
      this.recentClosest.delete(hex)
      this.recentClosest.set(hex, { closest: this.withSelf(key, targets, this.storeCount), at: now })
      if (this.recentClosest.size > MAX_CLOSEST_KEPT) this.recentClosest.delete(this.recentClosest.keys().next().value!)
    }
    return [...byOwner.values()].filter((record) => record.expiresAt > now).map(publicRecord)
  }

  /**
   * An iterative lookup from the table's closest contacts. `closest`: the k
   * closest that answered; `targets`: those and every disjoint path's own k
   * closest (where records go, see `lookupPaths`).
   */
  private async lookup(
    key: Uint8Array,
    ask: LookupQuery,
    signal?: AbortSignal,
    enough?: (answered: NodeDescriptor) => boolean,
  ): Promise<{ closest: NodeDescriptor[]; targets: NodeDescriptor[] }> {
    if (this.state !== 'started') throw new NetworkError('INVALID_STATE', `DHT node is ${this.state}`)
    const { k, alpha } = this.options
    this.table.markUsed(key, this.components.clock.now())
    const seeds = this.table.closest(key, k).map((contact) => contact.descriptor)
    const controller = new AbortController()
    const onAbort = (): void => controller.abort(signal?.reason)
    if (signal?.aborted === true) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    this.underWay.add(controller)
    const result = await runLookup(
      key,
      seeds,
      async (descriptor, querySignal) => {
        try {
          const answer = await ask(descriptor, querySignal)
          this.heardFrom(descriptor.nodeId)
          return answer
        } catch (err) {
          if (!querySignal.aborted) {
            this.components.logger.debug('DHT request failed', { peerId: descriptor.nodeId, error: errorField(err) })
            this.failed(descriptor.nodeId)
          }
          throw err
        }
      },
      {
        k,
        alpha,
        maxCandidates: k * CANDIDATES_PER_K,
        localId: this.nodeId,
        enough,
        paths: this.options.lookupPaths,
        groupOf: this.groupOfDescriptor,
        maxPerGroup: this.options.maxPerSubnetPerLookup,
      },
      controller.signal,
    ).finally(() => {
      this.underWay.delete(controller)
      signal?.removeEventListener('abort', onAbort)
    })
    this.counters.lookups++
    this.counters.lookupQueries += result.queries
    this.counters.lookupHops += result.hops
    if (result.paths.length <= 1) return { closest: result.closest, targets: result.closest }
    const targets = new Map(result.closest.map((descriptor) => [descriptor.nodeId, descriptor]))
    for (const path of result.paths) for (const descriptor of path) targets.set(descriptor.nodeId, descriptor)
    return { closest: result.closest, targets: [...targets.values()] }
  }

  /** How many nodes a record goes to: the k closest, or with disjoint paths every path's k closest (and this node). */
  private get storeCount(): number {
    return this.options.lookupPaths === 1 ? this.options.k : Infinity
  }

  /**
   * A descriptor's network group by its first address when that is an IP address (see `ipSubnetGroup`: a
   * WebRTC-only node's `webrtc:<id>` is in none), for the per-lookup subnet cap.
   */
  private readonly groupOfDescriptor = (descriptor: NodeDescriptor): string | undefined => {
    const address = descriptor.addresses[0]
    return address === undefined ? undefined : ipSubnetGroup(address, this.options.exemptLoopback)
  }

  /** `found` with this node among them where it is close enough (a full node with an address), closest first. */
  private withSelf(key: Uint8Array, found: NodeDescriptor[], count = this.options.k): NodeDescriptor[] {
    const self = this.components.localDescriptor()
    if (self.kind !== 'full' || self.addresses.length === 0) return found
    const all = [...found, self]
    all.sort((a, b) => compareDistance(key, nodeIdToKey(a.nodeId), nodeIdToKey(b.nodeId)))
    return count === Infinity ? all : all.slice(0, count)
  }

  /** An answer came from a node: it is alive, and its connection (handshake-proven) may make it a contact. */
  private heardFrom(nodeId: NodeId): void {
    if (this.table.has(nodeId)) {
      this.table.touch(nodeId, this.components.clock.now())
      return
    }
    const peer = this.components.connections.get(nodeId)
    if (peer !== undefined) this.handlePeerReady(peer)
  }

  private failed(nodeId: NodeId): void {
    this.releaseWebRtcContact(nodeId)
    if (this.table.remove(nodeId) !== undefined) {
      this.components.logger.debug('DHT contact dropped: it did not answer', { peerId: nodeId })
    }
  }

  /** Kademlia's eviction check: the full bucket's oldest contact stays if it answers a ping. */
  private checkLeastRecentlySeen(oldest: Contact): void {
    const now = this.components.clock.now()
    const nodeId = oldest.descriptor.nodeId
    if (now - oldest.lastSeen < FRESH_CONTACT_MS || this.pinging.has(nodeId)) return
    this.pinging.add(nodeId)
    const timeoutMs = this.options.requestTimeoutMs
    const alive = (async (): Promise<boolean> => {
      const connected = this.components.connections.get(nodeId)
      if (connected !== undefined) return connected.probe(timeoutMs)
      // Reaching it (a handshake proves it is the node) is the ping.
      await this.withDeadline((signal) => this.components.connections.connectDescriptor(oldest.descriptor, signal))
      return true
    })()
    void alive
      .catch(() => false)
      .then((answered) => {
        this.pinging.delete(nodeId)
        if (this.state !== 'started') return
        if (answered) this.table.touch(nodeId, this.components.clock.now())
        else this.failed(nodeId)
      })
  }

  /** Runs `task` with a signal that aborts after `requestTimeoutMs` or when the node stops. */
  private async withDeadline<T>(task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController()
    const timer = this.components.clock.setTimeout(
      () => controller.abort(new NetworkError('TIMEOUT', 'DHT request timed out')),
      this.options.requestTimeoutMs,
      { unref: true },
    )
    this.underWay.add(controller)
    try {
      return await task(controller.signal)
    } finally {
      timer.cancel()
      this.underWay.delete(controller)
    }
  }

  private refuse(reason: DhtRefusalKey, peerId: NodeId, detail?: string): void {
    this.refusedCounts[reason] = (this.refusedCounts[reason] ?? 0) + 1
    this.components.logger.debug('refused a DHT message', { peerId, reason, detail })
  }

  /** Connects to the entry points and known peers, then fills the buckets; retries in the background while alone. */
  private join(): Promise<void> {
    this.joining ??= this.tryJoin().finally(() => {
      this.joining = undefined
    })
    return this.joining
  }

  private async tryJoin(): Promise<void> {
    const own = new Set(this.components.localDescriptor().addresses)
    // Known peers beside the entry points: entry points restarted empty would otherwise only find each other.
    const targets = new Set([...this.options.entryPoints, ...this.options.knownPeers.slice(0, MAX_KNOWN_PEERS)])
    for (const address of own) targets.delete(address)
    await Promise.allSettled(
      [...targets].map((address) =>
        this.withDeadline((signal) => this.components.connections.connect(address, undefined, signal)).then((peer) => {
          this.handlePeerReady(peer)
          // One entry point is enough to look things up through: the nearest answers first, and lookups need not
          // wait for the farthest (the others join the table as they answer).
          if (this.table.size > 0) this.markReady()
        }),
      ),
    )
    this.markReady()
    if (this.state !== 'started') return
    if (this.table.size === 0) {
      this.scheduleJoinRetry()
      return
    }
    try {
      await this.lookup(this.localKey, (descriptor, signal) =>
        this.requests.findNode(descriptor, this.localKey, signal),
      )
    } catch (err) {
      if (this.state === 'started') this.components.logger.debug('DHT self-lookup failed', { error: errorField(err) })
    }
    if (this.state !== 'started') return
    if (this.table.size === 0) {
      this.scheduleJoinRetry()
      return
    }
    this.joinRetries = 0
    await this.refreshBuckets(this.table.emptyBuckets(), true)
    this.joinedNetwork = true
  }

  /**
   * A lookup for a random key in each bucket, all at once (they are few).
   * An empty bucket's lookup ends as soon as someone in that bucket answered:
   * one contact there is what routing needs, and its handshake made it one.
   */
  private async refreshBuckets(indexes: readonly number[], untilFound = false): Promise<void> {
    if (this.refreshing || indexes.length === 0) return
    this.refreshing = true
    try {
      await Promise.all(
        indexes.map((index) => {
          const key = randomKeyInBucket(this.localKey, index, this.random)
          const enough = untilFound
            ? (answered: NodeDescriptor) => this.table.bucketIndexOf(nodeIdToKey(answered.nodeId)) === index
            : undefined
          return this.lookup(
            key,
            (descriptor, signal) => this.requests.findNode(descriptor, key, signal),
            undefined,
            enough,
          ).catch(() => undefined)
        }),
      )
    } finally {
      this.refreshing = false
    }
  }

  private scheduleJoinRetry(): void {
    this.joinTimer?.cancel()
    // Jittered: nodes that started while every entry point was down would otherwise all retry in the same instant.
    const delay = reconnectDelayMs(this.joinRetries++, this.options.joinRetryMs, MAX_JOIN_RETRY_MS, this.random)
    this.joinTimer = this.components.clock.setTimeout(() => void this.join(), delay, { unref: true })
  }

  /** Drops expired records, and refreshes buckets no lookup went through lately. */
  private maintain(): void {
    if (this.state !== 'started') return
    const now = this.components.clock.now()
    this.store.sweep(now)
    if (this.table.size === 0) {
      this.joinedNetwork = false
      if (this.joining === undefined) void this.join()
      return
    }
    const stale = this.table.staleBuckets(now, this.options.bucketRefreshMs)
    if (stale.length > 0) void this.refreshBuckets(stale)
  }
}

/** `promise`, or a rejection with `ABORTED` as soon as `signal` aborts. */
function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(new NetworkError('ABORTED', 'aborted', { cause: signal.reason }))
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new NetworkError('ABORTED', 'aborted', { cause: signal.reason }))
    signal.addEventListener('abort', onAbort, { once: true })
    void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** A record without its signature. */
function publicRecord({ key, owner, value, expiresAt, sequence, from }: SignedRecord): DhtRecord {
  return { key, owner, value, expiresAt, sequence, ...(from === undefined ? {} : { from }) }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== DHT_KEY_LENGTH) {
    throw new NetworkError('INVALID_ARGUMENT', `a DHT key is ${DHT_KEY_LENGTH} bytes, got ${String(key?.length)}`)
  }
}
