import type { Clock, StreamPartId, Timer } from '@runnel/protocol'
import type { PeerConnection } from '../connection/PeerConnection.js'
import type {
  ControlMessage,
  NodeDescriptor as NodeDescriptorProto,
} from '../generated/runnel/network/v1/network_pb.js'
import { descriptorFromProto, type NodeDescriptor, type NodeId } from '../identity.js'
import { errorField, type Logger } from '../logger.js'
import type { StreamPartOverlay } from '../overlay/StreamPartOverlay.js'
import { dhtKeyOfStreamPart } from '../dht/keys.js'
import { isWebRtcOnly } from '../transport/webrtc/signalling.js'
import type { Discovery } from './Discovery.js'
import {
  DEFAULT_ENTRY_POINT_TIMING,
  encodeEntryPoint,
  isFresh,
  openEntryPoint,
  shouldHoldEntryPoint,
  shuffled,
  type EntryPointRecord,
  type EntryPointTiming,
  type RecordRefusal,
  entryPointGroup,
  MAX_ENTRY_POINTS_PER_SUBNET,
} from './entryPoints.js'

/** What trackerless discovery needs of the DHT (`DhtNode` is one). */
export interface DiscoveryDht {
  start(): Promise<void>
  /**
   * Resolves once lookups can start, before `start()` does (`DhtNode.ready()`); storeRecord then waits for the join
   * itself. Without it, discovery waits for `start()`.
   */
  ready?(): Promise<void>
  /** The join attempt under way, if any (`DhtNode.joinUnderWay()`). */
  joinUnderWay?(): Promise<void> | undefined
  stop(): void
  handleControl(peer: PeerConnection, message: ControlMessage): boolean
  handlePeerReady(peer: PeerConnection): void
  handlePeerClosed(peerId: NodeId): void
  /** Stores a signed record under `key` at the nodes closest to it; resolves with how many stored it. */
  storeRecord(key: Uint8Array, value: Uint8Array, ttlMs: number, signal?: AbortSignal): Promise<number>
  /**
   * The unexpired records under `key`, signatures checked against their owners, one per owner. `progress` gets each
   * answer's records, and the other nodes seeking peers under `key` that answers name, as they arrive
   * (`DhtNode.findRecords`).
   */
  findRecords(
    key: Uint8Array,
    signal?: AbortSignal,
    progress?: {
      readonly onRecords?: (records: readonly EntryPointRecord[]) => void
      readonly onSeekers?: (seekers: readonly NodeDescriptor[]) => void
    },
  ): Promise<readonly EntryPointRecord[]>
}

/** Collaborators of {@link DhtDiscovery}. */
export interface DhtDiscoveryComponents {
  readonly dht: DiscoveryDht
  readonly nodeId: NodeId
  readonly kind: 'full' | 'light'
  readonly overlays: ReadonlyMap<StreamPartId, StreamPartOverlay>
  /** How many more neighbours (light: proxies) a stream part wants, requests in flight counted. */
  readonly wanted: (overlay: StreamPartOverlay) => number
  /** Asks up to `limit` of `candidates`, in order (`OverlayControl.requestCandidates`). */
  readonly request: (overlay: StreamPartOverlay, candidates: readonly NodeDescriptor[], limit: number) => void
  /** The handshake-proven descriptor of a connected peer. */
  readonly descriptorOf: (peerId: NodeId) => NodeDescriptor | undefined
  readonly localDescriptor: () => NodeDescriptor
  /** Notes that a peer can relay WebRTC signals to a node (`SignalRelay.noteRoute`). */
  readonly noteRoute?: (targetId: NodeId, viaPeerId: NodeId) => void
  /** A fresh record under this node's own id (another process with its key, or its own): `IdentityCheck.hint`. */
  readonly onOwnIdSeen?: (descriptor: NodeDescriptor) => void
  readonly clock: Clock
  readonly logger: Logger
  /** In [0, 1); seeded in simulations. Default Math.random. */
  readonly random?: () => number
}

export interface DhtDiscoveryOptions {
  /** How often a stream part short of neighbours looks again. */
  readonly statusRetryMs: number
  /** Most entry points believed from one subnet. Default {@link MAX_ENTRY_POINTS_PER_SUBNET}. */
  readonly maxEntryPointsPerSubnet?: number
  readonly timing?: Partial<EntryPointTiming>
}

/** Counters since start. */
export interface DhtDiscoveryMetrics {
  lookups: number
  lookupFailures: number
  stores: number
  storeFailures: number
  /** Records not believed, by why: a forged one (value naming another node than its signer) is 'owner-mismatch'. */
  readonly recordsRefused: Partial<Record<RecordRefusal, number>>
  /** Alternatives in refusals that were not valid full-node descriptors. */
  alternativesRefused: number
  /** Stream parts this node is an entry point of now. */
  entryPointsHeld: number
}

/** Most alternatives read from one refusal, and named in one. */
export const MAX_ALTERNATIVES = 4
/** A peer that refused (or could not be reached) is not asked again for this long. */
const REFUSAL_MEMORY_MS = 10_000
/** Most candidates remembered per stream part (from records and refusals); the oldest go first. */
const MAX_KNOWN = 64
const MAX_REFUSED = 256
const STATUS_COALESCE_MS = 10
const HANDOVER_GRACE_MS = 250
/** A node that found no one else looks again this soon (jittered): nodes joining at once then find each other. */
const QUICK_RETRY_MS = 500
/** Lookups of one stream part start at least this far apart: refusals come in bursts, and each asks for a look. */
const MIN_LOOKUP_GAP_MS = 250

interface PartState {
  readonly key: Uint8Array
  holding: boolean
  lastStoredAt: number
  storing: boolean
  looking: boolean
  /** A round waits for the DHT's join to end before deciding whether to hold a record. */
  awaitingJoin: boolean
  lastLookupAt: number
  /** Aborted when the node leaves the stream part or stops: ends its lookups and stores. */
  readonly life: AbortController
  nextCheckAt: number
  readonly known: Map<NodeId, NodeDescriptor>
  readonly refusedUntil: Map<NodeId, number>
  timer: Timer | undefined
}

/**
 * Trackerless discovery: a stream part's entry points are found as records
 * in the DHT under `dhtKeyOfStreamPart(streamPartId)`, each an entry point's own
 * descriptor signed by it. A joining node looks them up and asks some as
 * neighbours (light nodes: as proxies); a refusal because full names a few of
 * the refuser's neighbours to ask instead, so joiners spread from the entry
 * points into the overlay. While fewer than `target` live entry points exist,
 * a full node stores its own record and refreshes it every `refreshMs`; a
 * node that leaves stops, and its record expires. A node short of neighbours
 * (joining, or after churn) looks again every `statusRetryMs`; every joined
 * full node re-checks about every `refreshMs` whether it should hold a record.
 *
 * @example
 * ```ts
 * const discovery = new DhtDiscovery(
 *   { dht, nodeId, kind: 'full', overlays, wanted, request, descriptorOf, localDescriptor, clock, logger },
 *   { statusRetryMs: 2_000 },
 * )
 * discovery.start()
 * await discovery.bootstrap()
 * discovery.reportStatus(streamPartId)
 * ```
 */
export class DhtDiscovery implements Discovery {
  readonly mode = 'dht'
  readonly metrics: DhtDiscoveryMetrics = {
    lookups: 0,
    lookupFailures: 0,
    stores: 0,
    storeFailures: 0,
    recordsRefused: {},
    alternativesRefused: 0,
    entryPointsHeld: 0,
  }
  private readonly timing: EntryPointTiming
  private readonly random: () => number
  private readonly parts = new Map<StreamPartId, PartState>()
  private running = false
  private bootstrapped = false
  private ticker: Timer | undefined

  constructor(
    private readonly components: DhtDiscoveryComponents,
    private readonly options: DhtDiscoveryOptions,
  ) {
    this.timing = { ...DEFAULT_ENTRY_POINT_TIMING, ...options.timing }
    this.random = components.random ?? Math.random
  }

  start(): void {
    this.running = true
    this.ticker = this.components.clock.setInterval(() => this.tick(), this.options.statusRetryMs, { unref: true })
  }

  async bootstrap(): Promise<void> {
    const { dht } = this.components
    if (dht.ready === undefined) await dht.start()
    else {
      // Look up entry points as soon as the DHT can (its own join goes on meanwhile): a joining node's first lookup
      // then overlaps its self-lookup and bucket refreshes instead of waiting for them.
      const started = dht.start()
      started.catch(() => undefined)
      await Promise.race([dht.ready(), started])
    }
    this.bootstrapped = true
    // Joins made while the DHT started look up now.
    for (const streamPartId of this.parts.keys()) this.reportStatus(streamPartId)
  }

  stop(): void {
    this.running = false
    this.ticker?.cancel()
    for (const part of this.parts.values()) this.closePart(part)
    this.parts.clear()
    this.components.dht.stop()
  }

  reportStatus(streamPartId: StreamPartId): void {
    if (!this.running) return
    const overlay = this.components.overlays.get(streamPartId)
    if (overlay === undefined) return
    let part = this.parts.get(streamPartId)
    if (part === undefined) {
      part = {
        key: dhtKeyOfStreamPart(streamPartId),
        holding: false,
        lastStoredAt: -Infinity,
        storing: false,
        looking: false,
        awaitingJoin: false,
        lastLookupAt: -Infinity,
        life: new AbortController(),
        nextCheckAt: -Infinity,
        known: new Map(),
        refusedUntil: new Map(),
        timer: undefined,
      }
      this.parts.set(streamPartId, part)
    }
    if (!this.bootstrapped) return
    const now = this.components.clock.now()
    if (this.components.wanted(overlay) === 0 && now < part.nextCheckAt) return
    const wait = part.lastLookupAt + MIN_LOOKUP_GAP_MS - now
    if (wait > 0) this.scheduleStatus(streamPartId, wait)
    else void this.round(streamPartId, part)
  }

  scheduleStatus(streamPartId: StreamPartId, delayMs?: number): void {
    const part = this.parts.get(streamPartId)
    if (!this.running || part === undefined || part.timer !== undefined) return
    // A node with neighbours waits a little before looking: a neighbour that left in an edge split is replaced by
    // the requester it was handed to, whose request is on its way.
    const connected = (this.components.overlays.get(streamPartId)?.neighbors.size ?? 0) > 0
    delayMs ??= connected ? HANDOVER_GRACE_MS : STATUS_COALESCE_MS
    part.timer = this.components.clock.setTimeout(() => {
      part.timer = undefined
      this.reportStatus(streamPartId)
    }, delayMs)
  }

  reportLeave(streamPartId: StreamPartId): void {
    const part = this.parts.get(streamPartId)
    if (part === undefined) return
    // No refresh from now on: the record lapses within its lifetime.
    this.closePart(part)
    this.parts.delete(streamPartId)
  }

  isAuthority(): boolean {
    return false
  }

  isAuthorityFor(): boolean {
    return false
  }

  handleAuthorityClosed(): void {}

  handleControl(peer: PeerConnection, message: ControlMessage): boolean {
    return this.components.dht.handleControl(peer, message)
  }

  handlePeerReady(peer: PeerConnection): void {
    this.components.dht.handlePeerReady(peer)
  }

  handlePeerClosed(peerId: NodeId): void {
    this.components.dht.handlePeerClosed(peerId)
  }

  alternativesFor(overlay: StreamPartOverlay, requesterId: NodeId): NodeDescriptor[] {
    const alternatives: NodeDescriptor[] = []
    for (const peerId of shuffled([...overlay.neighbors], this.random)) {
      if (peerId === requesterId) continue
      const descriptor = this.components.descriptorOf(peerId)
      if (descriptor === undefined || descriptor.kind !== 'full' || descriptor.addresses.length === 0) continue
      alternatives.push(descriptor)
      if (alternatives.length === MAX_ALTERNATIVES) break
    }
    return alternatives
  }

  handoverFor(overlay: StreamPartOverlay, requesterId: NodeId): NodeDescriptor | undefined {
    return this.alternativesFor(overlay, requesterId)[0]
  }

  takeAnswer(
    overlay: StreamPartOverlay,
    peerId: NodeId,
    accepted: boolean,
    alternatives: readonly NodeDescriptorProto[],
  ): void {
    const part = this.parts.get(overlay.streamPartId)
    if (part === undefined) return
    const now = this.components.clock.now()
    if (!accepted) this.remember(part.refusedUntil, peerId, now + REFUSAL_MEMORY_MS, MAX_REFUSED)
    const fresh: NodeDescriptor[] = []
    for (const proto of alternatives.slice(0, MAX_ALTERNATIVES)) {
      let descriptor: NodeDescriptor
      try {
        descriptor = descriptorFromProto(proto)
      } catch (err) {
        this.metrics.alternativesRefused++
        this.components.logger.debug('an answer named an invalid alternative', { peerId, error: errorField(err) })
        continue
      }
      if (descriptor.kind !== 'full' || descriptor.addresses.length === 0) {
        this.metrics.alternativesRefused++
        continue
      }
      if (descriptor.nodeId === this.components.nodeId) continue
      // The answering node names its neighbours (or the one it hands over, held open meanwhile): it can relay signals.
      if (isWebRtcOnly(descriptor.addresses)) this.components.noteRoute?.(descriptor.nodeId, peerId)
      this.remember(part.known, descriptor.nodeId, descriptor, MAX_KNOWN)
      if (!this.isRefused(part, descriptor.nodeId, now)) fresh.push(descriptor)
    }
    if (fresh.length === 0) return
    if (accepted) {
      // An edge split: the peer dropped the neighbour it names to make room for this node. Taking it even when
      // no longer short keeps that neighbour's edge (now through this node); leaving it would make it look for
      // one, split another edge, and so on.
      this.components.request(overlay, fresh, fresh.length)
      return
    }
    const wanted = this.components.wanted(overlay)
    if (wanted > 0) this.components.request(overlay, shuffled(fresh, this.random), wanted)
  }

  takeUnreachable(overlay: StreamPartOverlay, peerId: NodeId): void {
    const part = this.parts.get(overlay.streamPartId)
    if (part === undefined) return
    part.known.delete(peerId)
    this.remember(part.refusedUntil, peerId, this.components.clock.now() + REFUSAL_MEMORY_MS, MAX_REFUSED)
  }

  /** One look: find the records, ask candidates while short, and store or refresh this node's own record. */
  private async round(streamPartId: StreamPartId, part: PartState): Promise<void> {
    if (part.looking) return
    part.looking = true
    part.lastLookupAt = this.components.clock.now()
    const { dht, clock, logger, nodeId } = this.components
    const joined = this.components.overlays.get(streamPartId)
    const short = joined === undefined ? 0 : this.components.wanted(joined)
    if (joined !== undefined && short > 0 && part.known.size > 0) {
      // Peers remembered from earlier lookups and answers are asked at once: after churn, a lookup may wait out the
      // timeouts of nodes that died, and a repair needn't wait for it.
      const now = clock.now()
      const remembered = [...part.known.values()].filter((descriptor) => !this.isRefused(part, descriptor.nodeId, now))
      this.components.request(joined, shuffled(remembered, this.random), this.batch(short))
    }
    let records: readonly EntryPointRecord[] = []
    this.metrics.lookups++
    // Records are asked of as soon as they arrive: the first answer with records often comes a hop or two before
    // the lookup ends. Requests in flight count as wanted, so asking early never asks more.
    const early = (arrived: readonly EntryPointRecord[]): void => {
      const overlay = this.components.overlays.get(streamPartId)
      if (part.life.signal.aborted || overlay === undefined || this.components.wanted(overlay) === 0) return
      this.askFromRecords(streamPartId, part, overlay, arrived, false)
    }
    // While short, the lookup seeks: the nodes at the key name others who sought it lately, and this node to those
    // after it, so nodes joining at once find each other before any has stored a record. Seekers are asked while the
    // round has asked (or gained) fewer than batch(short), as records' owners are: an edge split brings two.
    const seekers = (named: readonly NodeDescriptor[]): void => {
      const overlay = this.components.overlays.get(streamPartId)
      if (part.life.signal.aborted || overlay === undefined) return
      this.askSeekers(part, overlay, named, short - this.components.wanted(overlay) < this.batch(short))
    }
    try {
      records = await dht.findRecords(part.key, part.life.signal, {
        onRecords: early,
        onSeekers: short > 0 ? seekers : undefined,
      })
    } catch (err) {
      this.metrics.lookupFailures++
      logger.debug('entry-point lookup failed', { streamPartId, error: errorField(err) })
    } finally {
      part.looking = false
    }
    let overlay = this.components.overlays.get(streamPartId)
    if (part.life.signal.aborted || overlay === undefined) return
    let { live, alone } = this.askFromRecords(streamPartId, part, overlay, records)

    const joining = this.components.kind === 'full' ? dht.joinUnderWay?.() : undefined
    if (joining !== undefined && shouldHoldEntryPoint(part.key, nodeId, live, this.timing.target)) {
      // Whether to hold a record is decided, and the record stored, on the view of a node whose DHT join ended: a
      // lookup made meanwhile (to find neighbours at once) sees a partial picture, and records stored from it land
      // on a wider set of nodes than the true closest. One round waits; the others end here. A partial view that
      // already says "don't hold" needs no second look: a fuller one only adds holders.
      if (part.awaitingJoin) return
      part.awaitingJoin = true
      try {
        await joining
        if (part.life.signal.aborted) return
        this.metrics.lookups++
        records = await dht.findRecords(part.key, part.life.signal)
      } catch (err) {
        this.metrics.lookupFailures++
        logger.debug('entry-point lookup failed', { streamPartId, error: errorField(err) })
      } finally {
        part.awaitingJoin = false
      }
      overlay = this.components.overlays.get(streamPartId)
      if (part.life.signal.aborted || overlay === undefined) return
      ;({ live, alone } = this.askFromRecords(streamPartId, part, overlay, records))
    }
    const now = clock.now()
    part.nextCheckAt = now + this.timing.refreshMs * (0.75 + 0.5 * this.random())
    if (this.components.kind === 'full') {
      const hold = shouldHoldEntryPoint(part.key, nodeId, live, this.timing.target)
      if (hold !== part.holding) this.metrics.entryPointsHeld += hold ? 1 : -1
      part.holding = hold
      if (hold) part.nextCheckAt = now + this.timing.refreshMs
      if (hold && now - part.lastStoredAt >= this.timing.refreshMs - this.options.statusRetryMs) {
        const first = part.lastStoredAt === -Infinity
        const storing = this.store(streamPartId, part, alone)
        // A new entry point's join settles once its record is stored, so a node joining next finds it (as a
        // tracker has registered a node by the time it answers); refreshes hold up nothing.
        if (first) await storing
        if (part.life.signal.aborted) return
      }
    }
    // The join has its answer: who the entry points are (possibly no one).
    overlay.trackerAnswered = true
    overlay.notifyNeighborCount()
  }

  /**
   * Opens the records (refusing forged and malformed ones), remembers their
   * owners as candidates and, while short of neighbours, asks some (live
   * entry points first). Returns the live holders (this node included) and
   * whether no one but this node has a record. `count`: refusals go into
   * the metrics (once per lookup, not again for its early answers).
   */
  private askFromRecords(
    streamPartId: StreamPartId,
    part: PartState,
    overlay: StreamPartOverlay,
    records: readonly EntryPointRecord[],
    count = true,
  ): { live: NodeId[]; alone: boolean } {
    const { clock, logger, nodeId } = this.components
    const now = clock.now()
    const live: NodeId[] = []
    const fresh: NodeDescriptor[] = []
    const stale: NodeDescriptor[] = []
    const perGroup = new Map<string, number>()
    for (const record of records) {
      const opened = capBySubnet(
        openEntryPoint(record),
        perGroup,
        this.options.maxEntryPointsPerSubnet ?? MAX_ENTRY_POINTS_PER_SUBNET,
      )
      if (opened.refusal !== undefined) {
        if (!count) continue
        this.metrics.recordsRefused[opened.refusal] = (this.metrics.recordsRefused[opened.refusal] ?? 0) + 1
        logger.debug('refused an entry-point record', { streamPartId, owner: record.owner, reason: opened.refusal })
        continue
      }
      const recordFresh = isFresh(record, now, this.timing)
      if (recordFresh) live.push(record.owner)
      if (record.owner === nodeId) {
        if (recordFresh) this.components.onOwnIdSeen?.(opened.descriptor)
        continue
      }
      ;(recordFresh ? fresh : stale).push(opened.descriptor)
      this.remember(part.known, record.owner, opened.descriptor, MAX_KNOWN)
      // Only a WebRTC-only owner needs a route for signals. Noted for every record's owner (in the DHT, which can't
      // tell), hints held up to a thousand routes no one would use on every node.
      if (record.from !== undefined && record.from !== record.owner && isWebRtcOnly(opened.descriptor.addresses)) {
        this.components.noteRoute?.(record.owner, record.from)
      }
    }

    const wanted = this.components.wanted(overlay)
    if (wanted > 0) {
      // Live entry points first, in random order so joiners spread over them; then lapsing ones and peers named in refusals.
      const fromRecords = new Set([...fresh, ...stale].map((descriptor) => descriptor.nodeId))
      const others = [...part.known.values()].filter((descriptor) => !fromRecords.has(descriptor.nodeId))
      const candidates = [
        ...shuffled(fresh, this.random),
        ...shuffled(stale, this.random),
        ...shuffled(others, this.random),
      ].filter((descriptor) => !this.isRefused(part, descriptor.nodeId, now))
      this.components.request(overlay, candidates, this.batch(wanted))
    }
    return { live, alone: fresh.length + stale.length === 0 }
  }

  /**
   * Remembers the seekers named and, while short and `mayAsk`, asks one not refused lately. One per answer, so a
   * node's first neighbours come from several answerers' seekers (the first answers come from the entry point
   * nearest the node, whose seekers are mostly nodes near it), not all from the first.
   */
  private askSeekers(
    part: PartState,
    overlay: StreamPartOverlay,
    named: readonly NodeDescriptor[],
    mayAsk: boolean,
  ): void {
    const now = this.components.clock.now()
    const fresh: NodeDescriptor[] = []
    for (const descriptor of named) {
      if (descriptor.nodeId === this.components.nodeId) continue
      this.remember(part.known, descriptor.nodeId, descriptor, MAX_KNOWN)
      if (!this.isRefused(part, descriptor.nodeId, now)) fresh.push(descriptor)
    }
    if (mayAsk && fresh.length > 0 && this.components.wanted(overlay) > 0) {
      this.components.request(overlay, shuffled(fresh, this.random), 1)
    }
  }

  private async store(streamPartId: StreamPartId, part: PartState, alone: boolean): Promise<void> {
    if (part.storing) return
    part.storing = true
    const startedAt = this.components.clock.now()
    try {
      const stored = await this.components.dht.storeRecord(
        part.key,
        encodeEntryPoint(this.components.localDescriptor()),
        this.timing.ttlMs,
        part.life.signal,
      )
      this.metrics.stores++
      part.lastStoredAt = startedAt
      if (stored === 0) this.components.logger.debug('no node stored the entry-point record', { streamPartId })
    } catch (err) {
      this.metrics.storeFailures++
      this.components.logger.debug('storing the entry-point record failed', { streamPartId, error: errorField(err) })
    } finally {
      part.storing = false
    }
    if (alone && !part.life.signal.aborted) {
      // Nodes joining at once all find no one and all store: a second look soon finds the others.
      this.components.clock.setTimeout(() => this.reportStatus(streamPartId), QUICK_RETRY_MS * (0.5 + this.random()), {
        unref: true,
      })
    }
  }

  /**
   * How many to ask at once when `wanted` more are wanted. A full node at its target degree answers with an edge
   * split (two neighbours for one request), so asking half as many keeps degrees near the target; nodes below it
   * accept plainly, and the next round asks again. Proxies come one per request.
   */
  private batch(wanted: number): number {
    return this.components.kind === 'full' ? Math.ceil(wanted / 2) : wanted
  }

  private tick(): void {
    if (!this.bootstrapped) return
    const now = this.components.clock.now()
    for (const [streamPartId, part] of this.parts) {
      const overlay = this.components.overlays.get(streamPartId)
      if (overlay === undefined) continue
      if (this.components.wanted(overlay) > 0 || now >= part.nextCheckAt) void this.round(streamPartId, part)
    }
  }

  private isRefused(part: PartState, peerId: NodeId, now: number): boolean {
    const until = part.refusedUntil.get(peerId)
    if (until === undefined) return false
    if (until > now) return true
    part.refusedUntil.delete(peerId)
    return false
  }

  /** Sets `key` as the newest entry, dropping the oldest beyond `limit`: bounded memory per stream part. */
  private remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
    map.delete(key)
    map.set(key, value)
    if (map.size > limit) map.delete(map.keys().next().value as K)
  }

  private closePart(part: PartState): void {
    part.life.abort()
    part.timer?.cancel()
    if (part.holding) this.metrics.entryPointsHeld--
    part.holding = false
  }
}

/** `opened`, or a 'subnet-cap' refusal once `max` entry points of its subnet were taken. */
function capBySubnet(
  opened: ReturnType<typeof openEntryPoint>,
  perGroup: Map<string, number>,
  max: number,
): ReturnType<typeof openEntryPoint> {
  if (opened.descriptor === undefined) return opened
  const group = entryPointGroup(opened.descriptor)
  if (group === undefined) return opened
  const count = perGroup.get(group) ?? 0
  if (count >= max) return { refusal: 'subnet-cap' }
  perGroup.set(group, count + 1)
  return opened
}
