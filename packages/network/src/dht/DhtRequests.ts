import type { Clock, SignatureVerifier, Timer } from '@runnel/protocol'
import { NetworkError } from '../errors.js'
import type {
  DhtFindNodeResponse,
  DhtFindRecordsResponse,
  DhtStoreResponse,
  NodeDescriptor as NodeDescriptorProto,
} from '../generated/runnel/network/v1/network_pb.js'
import { descriptorFromProto, type NodeDescriptor, type NodeId } from '../identity.js'
import { isWebRtcOnly } from '../transport/webrtc/signalling.js'
import type { ControlMessageInit } from '../wire/frames.js'
import type { DhtRefusalKey } from './dhtOptions.js'
import { RecoveredSigners, recordFromProto, recordToProto, type SignedRecord } from './records.js'
import { MAX_SEEKERS_NAMED } from './Seekers.js'

/** What the DHT needs of a connection; `PeerConnection` is one. */
export interface DhtPeer {
  readonly peerId: NodeId
  /** The peer's handshake-proven descriptor. */
  readonly peer: NodeDescriptor
  readonly transportConnection: { readonly remoteAddress: string }
  readonly isClosed: boolean
  sendControl(body: ControlMessageInit): boolean
  /** Resolves true when the peer answers a ping in time. */
  probe(timeoutMs: number): Promise<boolean>
}

/** What the DHT needs of a connection manager; `ConnectionManager` is one. */
export interface DhtConnections {
  get(nodeId: NodeId): DhtPeer | undefined
  connect(address: string, expectedNodeId?: NodeId, signal?: AbortSignal): Promise<DhtPeer>
  /** Connects to the node itself: an address leading to another node id fails. */
  connectDescriptor(descriptor: NodeDescriptor, signal?: AbortSignal): Promise<DhtPeer>
  lock(peerId: NodeId, owner: string): void
  unlock(peerId: NodeId, owner: string): void
  /** Calls `listener` once when this connection closes; returns a function removing it. */
  whenClosed(peer: DhtPeer, listener: (cause: string, detail: string) => void): () => void
}

type ResponseCase = 'dhtFindNodeResponse' | 'dhtStoreResponse' | 'dhtFindRecordsResponse'
interface ResponseOf {
  dhtFindNodeResponse: DhtFindNodeResponse
  dhtStoreResponse: DhtStoreResponse
  dhtFindRecordsResponse: DhtFindRecordsResponse
}
type Response = { [C in ResponseCase]: { case: C; value: ResponseOf[C] } }[ResponseCase]

interface Pending {
  readonly peerId: NodeId
  readonly expected: ResponseCase
  readonly resolve: (response: Response) => void
  readonly reject: (error: NetworkError) => void
}

export interface DhtRequestsComponents {
  readonly connections: DhtConnections
  readonly verifier: SignatureVerifier
  readonly clock: Clock
  readonly refuse: (reason: DhtRefusalKey, peerId: NodeId, detail?: string) => void
  /** Notes that `viaPeerId` can relay WebRTC signals to `targetId` (see `DhtNodeComponents.noteRoute`). */
  readonly noteRoute?: (targetId: NodeId, viaPeerId: NodeId) => void
  /** This node's id: an answer naming it is passed to `onOwnIdSeen` and left out of the result. */
  readonly localId?: NodeId
  /** An answer named this node's id at `descriptor` (see `DhtNodeComponents.onOwnIdSeen`). */
  readonly onOwnIdSeen?: (descriptor: NodeDescriptor, fromPeerId: NodeId) => void
}

export interface DhtRequestsSettings {
  readonly k: number
  readonly requestTimeoutMs: number
  readonly maxRecordsPerKey: number
  readonly maxRecordTtlMs: number
}

/** How many of the latest request ids recognise a late answer (not pending, so ended). */
const LATE_ANSWER_IDS = 1024

/** Lock owner for connections with a request in flight. */
const LOCK_OWNER = 'dht'

/**
 * The asking side of the DHT's RPC: connects, sends a request with a fresh
 * id, and matches the answer by id and by the peer it was sent to. Answers
 * are validated here, once: a refused answer fails the request, so a peer
 * answering with garbage counts as a failed node in the lookup.
 *
 * Bounds: one pending entry per request in flight; each ends by answer,
 * close, abort or timeout.
 */
export class DhtRequests {
  readonly counters = { sent: 0, timeouts: 0, failures: 0 }
  private readonly pending = new Map<number, Pending>()
  /** Requests in flight per peer, so its connection stays locked while any is. */
  private readonly inFlight = new Map<NodeId, number>()
  private nextRequestId = 1

  /** The same records come back from every node near a key: each signature is recovered once. */
  private readonly recovered = new RecoveredSigners()

  constructor(
    private readonly components: DhtRequestsComponents,
    private readonly settings: DhtRequestsSettings,
  ) {}

  async findNode(target: NodeDescriptor, key: Uint8Array, signal?: AbortSignal): Promise<NodeDescriptor[]> {
    const response = await this.request(
      target,
      (requestId) => ({ case: 'dhtFindNodeRequest', value: { requestId, key } }),
      'dhtFindNodeResponse',
      signal,
    )
    return this.descriptors(target.nodeId, response.closest)
  }

  /** `seeking`: this node looks for peers under `key` too, and is named to later askers (see `Seekers`). */
  async findRecords(
    target: NodeDescriptor,
    key: Uint8Array,
    signal?: AbortSignal,
    seeking = false,
  ): Promise<{ closest: NodeDescriptor[]; records: SignedRecord[]; seekers: NodeDescriptor[] }> {
    const response = await this.request(
      target,
      (requestId) => ({ case: 'dhtFindRecordsRequest', value: { requestId, key, seeking } }),
      'dhtFindRecordsResponse',
      signal,
    )
    const closest = this.descriptors(target.nodeId, response.closest)
    if (response.seekers.length > MAX_SEEKERS_NAMED) {
      throw this.refused('too-many-descriptors', target.nodeId, `${response.seekers.length} seekers`)
    }
    const seekers = this.descriptors(target.nodeId, response.seekers)
    if (response.records.length > this.settings.maxRecordsPerKey) {
      throw this.refused('too-many-records', target.nodeId, `${response.records.length} records`)
    }
    const records: SignedRecord[] = []
    const now = this.components.clock.now()
    for (const proto of response.records) {
      const result = recordFromProto(proto, {
        now,
        maxRecordTtlMs: this.settings.maxRecordTtlMs,
        verifier: this.components.verifier,
        key,
        recovered: this.recovered,
        from: target.nodeId,
      })
      if (result.ok) {
        records.push(result.record)
      } else if (result.reason === 'expired') {
        // Expired on the way or by a clock a little ahead: not the storer's fault.
        this.components.refuse('record-expired', target.nodeId)
      } else {
        throw this.refused(`record-${result.reason}`, target.nodeId, 'in a find-records answer')
      }
    }
    return { closest, records, seekers }
  }

  async store(target: NodeDescriptor, record: SignedRecord, signal?: AbortSignal): Promise<DhtStoreResponse> {
    return this.request(
      target,
      (requestId) => ({ case: 'dhtStoreRequest', value: { requestId, record: recordToProto(record) } }),
      'dhtStoreResponse',
      signal,
    )
  }

  /**
   * Settles the request an answer belongs to. Returns false for answers no
   * one is waiting for from this peer (counted as 'unknown-request').
   */
  handleResponse(peer: DhtPeer, response: Response): boolean {
    const pending = this.pending.get(response.value.requestId)
    if (pending === undefined && this.issuedLately(response.value.requestId)) return true
    if (pending === undefined || pending.peerId !== peer.peerId || pending.expected !== response.case) {
      this.components.refuse('unknown-request', peer.peerId, `${response.case} ${response.value.requestId}`)
      return false
    }
    pending.resolve(response)
    return true
  }

  /** Fails the requests in flight to a peer whose connection closed, without waiting for their timeouts. */
  handlePeerClosed(peerId: NodeId): void {
    if (!this.inFlight.has(peerId)) return
    for (const pending of [...this.pending.values()]) {
      if (pending.peerId === peerId) pending.reject(new NetworkError('CONNECTION_CLOSED', `${peerId} disconnected`))
    }
  }

  stop(): void {
    for (const pending of [...this.pending.values()]) pending.reject(new NetworkError('ABORTED', 'DHT stopped'))
  }

  private async request<C extends ResponseCase>(
    target: NodeDescriptor,
    body: (requestId: number) => ControlMessageInit,
    expected: C,
    signal: AbortSignal | undefined,
  ): Promise<ResponseOf[C]> {
    const { clock, connections } = this.components
    const controller = new AbortController()
    const timer: Timer = clock.setTimeout(
      () => controller.abort(new NetworkError('TIMEOUT', `no answer from ${target.nodeId}`)),
      this.settings.requestTimeoutMs,
      { unref: true },
    )
    const onAbort = (): void => controller.abort(new NetworkError('ABORTED', 'request was aborted'))
    if (signal?.aborted === true) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    let peerId: NodeId | undefined
    let requestId: number | undefined
    let forgetClose: (() => void) | undefined
    try {
      // A connection can close under a request (it lost to a simultaneous
      // dial, or the peer evicted it): then once more on the connection there is now.
      for (let attempt = 1; ; attempt++) {
        const peer = await connections.connectDescriptor(target, controller.signal)
        if (controller.signal.aborted) throw controller.signal.reason
        if (peerId === undefined) {
          peerId = peer.peerId
          this.lockFor(peerId)
        }
        const id = this.nextRequestId
        requestId = id
        this.nextRequestId = this.nextRequestId >= 0xffff_ffff ? 1 : this.nextRequestId + 1
        const answer = new Promise<Response>((resolve, reject) => {
          this.pending.set(id, { peerId: peer.peerId, expected, resolve, reject })
          controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true })
          forgetClose = connections.whenClosed(peer, (cause, detail) =>
            reject(new NetworkError('CONNECTION_CLOSED', `connection to ${peer.peerId} closed: ${cause} ${detail}`)),
          )
        })
        // Settled by a close before it is awaited when the send fails: not an unhandled rejection.
        answer.catch(() => undefined)
        try {
          this.counters.sent++
          if (!peer.sendControl(body(id))) {
            throw peer.isClosed
              ? new NetworkError('CONNECTION_CLOSED', `connection to ${peer.peerId} closed`)
              : new NetworkError('CONNECTION_FAILED', `send buffer to ${peer.peerId} is full`)
          }
          const response = await answer
          return response.value as ResponseOf[C]
        } catch (err) {
          if (!(err instanceof NetworkError && err.code === 'CONNECTION_CLOSED') || attempt >= 2) throw err
        } finally {
          forgetClose?.()
          this.end(id)
        }
      }
    } catch (err) {
      const error =
        err instanceof NetworkError
          ? err
          : new NetworkError('CONNECTION_FAILED', `request to ${target.nodeId} failed`, { cause: err })
      if (error.code === 'TIMEOUT') this.counters.timeouts++
      else if (error.code !== 'ABORTED') this.counters.failures++
      throw error
    } finally {
      timer.cancel()
      signal?.removeEventListener('abort', onAbort)
      if (requestId !== undefined) this.end(requestId)
      forgetClose?.()
      if (peerId !== undefined) this.unlockFor(peerId)
    }
  }

  private end(requestId: number): void {
    this.pending.delete(requestId)
  }

  /**
   * Whether `requestId` is among the latest ids this node issued: ids are sequential, so one of them that isn't
   * pending ended lately (answered, timed out, aborted), and a late answer to it isn't taken for a forged one. A set
   * of the ended ids was ~3 KiB per node.
   */
  private issuedLately(requestId: number): boolean {
    const age = (this.nextRequestId - requestId + 0x1_0000_0000) % 0x1_0000_0000
    return age >= 1 && age <= LATE_ANSWER_IDS
  }

  private descriptors(from: NodeId, protos: readonly NodeDescriptorProto[]): NodeDescriptor[] {
    if (protos.length > this.settings.k) {
      throw this.refused('too-many-descriptors', from, `${protos.length} descriptors`)
    }
    const descriptors: NodeDescriptor[] = []
    for (const proto of protos) {
      let descriptor: NodeDescriptor
      try {
        descriptor = descriptorFromProto(proto)
      } catch (err) {
        throw this.refused('bad-descriptor', from, err instanceof Error ? err.message : String(err))
      }
      if (descriptor.kind !== 'full' || descriptor.addresses.length === 0) {
        throw this.refused(
          'bad-descriptor',
          from,
          `a ${descriptor.kind} node with ${descriptor.addresses.length} addresses`,
        )
      }
      if (descriptor.nodeId === this.components.localId) {
        this.components.onOwnIdSeen?.(descriptor, from)
        continue
      }
      // A node names a WebRTC-only node only while connected to it (its table keeps such contacts only then).
      if (isWebRtcOnly(descriptor.addresses)) this.components.noteRoute?.(descriptor.nodeId, from)
      descriptors.push(descriptor)
    }
    return descriptors
  }

  private refused(reason: DhtRefusalKey, peerId: NodeId, detail: string): NetworkError {
    this.components.refuse(reason, peerId, detail)
    return new NetworkError('MALFORMED_FRAME', `refused a DHT answer from ${peerId}: ${reason} (${detail})`)
  }

  private lockFor(peerId: NodeId): void {
    const count = this.inFlight.get(peerId) ?? 0
    if (count === 0) this.components.connections.lock(peerId, LOCK_OWNER)
    this.inFlight.set(peerId, count + 1)
  }

  private unlockFor(peerId: NodeId): void {
    const count = this.inFlight.get(peerId) ?? 1
    if (count <= 1) {
      this.inFlight.delete(peerId)
      this.components.connections.unlock(peerId, LOCK_OWNER)
    } else {
      this.inFlight.set(peerId, count - 1)
    }
  }
}
