import type { Clock, Timer } from '@runnel/protocol'
import { TokenBucket } from '../connection/TokenBucket.js'
import { NetworkError } from '../errors.js'
import type { ControlMessage, NodeInfoResponse } from '../generated/runnel/network/v1/network_pb.js'
import { descriptorFromProto, descriptorToProto, type NodeDescriptor, type NodeId } from '../identity.js'
import type { ControlMessageInit } from '../wire/frames.js'

/** What a node says it carries, answering a node-info query (see {@link NetworkNode.queryNodeInfo}). */
export interface NodeInfo {
  /** The answerer's handshake-proven descriptor (id, kind, addresses, location): not taken from the answer. */
  readonly descriptor: NodeDescriptor
  /** The software running it, as it says (e.g. "runnel-node/0.1.0"); empty when it doesn't say. */
  readonly version: string
  readonly uptimeMs: number
  readonly streamParts: readonly StreamPartInfo[]
  /** Its open peer connections by transport ("websocket", "webrtc"). */
  readonly connections: Readonly<Record<string, number>>
}

export interface StreamPartInfo {
  readonly streamPartId: string
  /** Its neighbours there (a full node), or its proxies (a light node), as their handshakes told it: not proven to the asker. */
  readonly neighbors: readonly NodeDescriptor[]
  /** Light nodes it relays the stream part for. */
  readonly proxyClients: number
}

/** The answering side's view of this node, read when a query arrives. */
export interface LocalNodeInfo {
  readonly version: string
  readonly uptimeMs: number
  readonly streamParts: readonly StreamPartInfo[]
  readonly connections: Readonly<Record<string, number>>
}

/** What the queries need of a connection; `PeerConnection` is one. */
export interface InfoPeer {
  readonly peerId: NodeId
  readonly peer: NodeDescriptor
  sendControl(body: ControlMessageInit): boolean
}

export interface NodeInfoQueriesComponents {
  readonly clock: Clock
  readonly describe: () => LocalNodeInfo
  /** Keeps the connection open while a query is in flight (the idle trimmer would close it). */
  readonly lock: (peerId: NodeId) => void
  readonly unlock: (peerId: NodeId) => void
}

/** Bounds on an answer: a node answering beyond them is refused as garbage, not trusted in part. */
export const NODE_INFO_LIMITS = {
  streamParts: 1_000,
  neighborsPerStreamPart: 64,
  streamPartIdLength: 256,
  versionLength: 64,
  transports: 8,
  /** Answers per asker: a burst of `burst`, then `perSecond`. */
  perSecond: 1,
  burst: 5,
} as const

/** Askers remembered for rate limiting; the oldest is forgotten past this (each bucket is ~100 bytes). */
const MAX_ASKERS = 1_000

interface Pending {
  readonly peerId: NodeId
  readonly peer: NodeDescriptor
  readonly resolve: (info: NodeInfo) => void
  readonly reject: (error: NetworkError) => void
  readonly timer: Timer
}

/**
 * Node-info queries over peer connections: answers what this node carries (its stream parts, their neighbours,
 * its version and connections), at a bounded rate per asker, and asks other nodes the same. The explorer draws a
 * stream part's overlay from the answers of its nodes. An answer is what a node says; only its descriptor is proven.
 */
export class NodeInfoQueries {
  private readonly pending = new Map<number, Pending>()
  private readonly buckets = new Map<NodeId, TokenBucket>()
  private nextRequestId = 1
  /** Queries this node refused for their rate, and answers it got that it refused as malformed. */
  readonly counters = { answered: 0, rateLimited: 0, malformedAnswers: 0 }

  constructor(private readonly components: NodeInfoQueriesComponents) {}

  /** Handles a node-info control message; false for other messages. */
  handleControl(peer: InfoPeer, body: ControlMessage['body']): boolean {
    if (body.case === 'nodeInfoRequest') {
      this.answer(peer, body.value.requestId)
      return true
    }
    if (body.case === 'nodeInfoResponse') {
      this.takeAnswer(peer, body.value)
      return true
    }
    return false
  }

  /** Asks `peer` what it carries; rejects with `TIMEOUT`, `RATE_LIMITED` or `MALFORMED_FRAME` (garbage answer). */
  ask(peer: InfoPeer, timeoutMs: number): Promise<NodeInfo> {
    const requestId = this.nextRequestId
    this.nextRequestId = (this.nextRequestId % 0xffff_ffff) + 1
    return new Promise<NodeInfo>((resolve, reject) => {
      const timer = this.components.clock.setTimeout(() => {
        this.settle(requestId)
        reject(new NetworkError('TIMEOUT', `node ${peer.peerId} did not answer a node-info query in ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(requestId, { peerId: peer.peerId, peer: peer.peer, resolve, reject, timer })
      this.components.lock(peer.peerId)
      if (!peer.sendControl({ case: 'nodeInfoRequest', value: { requestId } })) {
        this.settle(requestId)
        reject(new NetworkError('CONNECTION_CLOSED', `the connection to ${peer.peerId} closed before the query`))
      }
    })
  }

  /** The connection to `peerId` closed: its queries fail now rather than at their timeout. */
  peerClosed(peerId: NodeId): void {
    for (const [requestId, pending] of this.pending) {
      if (pending.peerId !== peerId) continue
      this.settle(requestId)
      pending.reject(new NetworkError('CONNECTION_CLOSED', `the connection to ${peerId} closed before it answered`))
    }
    this.buckets.delete(peerId)
  }

  /** Fails every query in flight (the node stops). */
  stop(): void {
    for (const peerId of new Set([...this.pending.values()].map((pending) => pending.peerId))) this.peerClosed(peerId)
    this.buckets.clear()
  }

  private answer(peer: InfoPeer, requestId: number): void {
    if (!this.bucketOf(peer.peerId).take(1)) {
      this.counters.rateLimited++
      peer.sendControl({ case: 'nodeInfoResponse', value: { requestId, refused: 'rate-limited' } })
      return
    }
    this.counters.answered++
    const local = this.components.describe()
    peer.sendControl({
      case: 'nodeInfoResponse',
      value: {
        requestId,
        version: local.version.slice(0, NODE_INFO_LIMITS.versionLength),
        uptimeMs: BigInt(Math.max(0, Math.floor(local.uptimeMs))),
        streamParts: local.streamParts.slice(0, NODE_INFO_LIMITS.streamParts).map((part) => ({
          streamPartId: part.streamPartId,
          neighbors: part.neighbors.slice(0, NODE_INFO_LIMITS.neighborsPerStreamPart).map(descriptorToProto),
          proxyClients: part.proxyClients,
        })),
        connections: local.connections,
      },
    })
  }

  private bucketOf(peerId: NodeId): TokenBucket {
    let bucket = this.buckets.get(peerId)
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_ASKERS) this.buckets.delete(this.buckets.keys().next().value!)
      bucket = new TokenBucket(NODE_INFO_LIMITS.perSecond, NODE_INFO_LIMITS.burst, () => this.components.clock.now())
      this.buckets.set(peerId, bucket)
    }
    return bucket
  }

  private takeAnswer(peer: InfoPeer, response: NodeInfoResponse): void {
    const pending = this.pending.get(response.requestId)
    // An answer to no query of ours, or from another peer than the one asked: ignored.
    if (pending === undefined || pending.peerId !== peer.peerId) return
    this.settle(response.requestId)
    if (response.refused !== '') {
      pending.reject(
        new NetworkError(
          response.refused === 'rate-limited' ? 'RATE_LIMITED' : 'CONNECTION_FAILED',
          `node ${peer.peerId} refused the node-info query: ${response.refused.slice(0, 100)}`,
        ),
      )
      return
    }
    try {
      pending.resolve(parseAnswer(pending.peer, response))
    } catch (err) {
      this.counters.malformedAnswers++
      pending.reject(err as NetworkError)
    }
  }

  private settle(requestId: number): void {
    const pending = this.pending.get(requestId)
    if (pending === undefined) return
    this.pending.delete(requestId)
    pending.timer.cancel()
    this.components.unlock(pending.peerId)
  }
}

/** The answer checked against {@link NODE_INFO_LIMITS}; throws `MALFORMED_FRAME` naming what is wrong. */
function parseAnswer(peer: NodeDescriptor, response: NodeInfoResponse): NodeInfo {
  if (response.version.length > NODE_INFO_LIMITS.versionLength) malformedThrow(peer, 'a version over 64 characters')
  if (response.streamParts.length > NODE_INFO_LIMITS.streamParts)
    malformedThrow(peer, `${response.streamParts.length} stream parts (at most ${NODE_INFO_LIMITS.streamParts})`)
  const streamParts = response.streamParts.map((part): StreamPartInfo => {
    const id = part.streamPartId
    if (id.length === 0 || id.length > NODE_INFO_LIMITS.streamPartIdLength || !id.includes('#'))
      malformedThrow(peer, `a stream part id that isn't one (${JSON.stringify(id.slice(0, 80))})`)
    if (part.neighbors.length > NODE_INFO_LIMITS.neighborsPerStreamPart)
      malformedThrow(peer, `${part.neighbors.length} neighbours in ${id}`)
    const neighbors = part.neighbors.map((descriptor) => {
      try {
        return descriptorFromProto(descriptor)
      } catch (err) {
        return malformedThrow(peer, `a neighbour descriptor that isn't one in ${id} (${(err as Error).message})`)
      }
    })
    return { streamPartId: id, neighbors, proxyClients: part.proxyClients }
  })
  const transports = Object.entries(response.connections)
  if (transports.length > NODE_INFO_LIMITS.transports) malformedThrow(peer, `${transports.length} transports`)
  const connections: Record<string, number> = {}
  for (const [transport, count] of transports) {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(transport))
      malformedThrow(peer, `a transport name that isn't one (${JSON.stringify(transport.slice(0, 40))})`)
    connections[transport] = count
  }
  return {
    descriptor: peer,
    version: response.version,
    uptimeMs: Number(response.uptimeMs),
    streamParts,
    connections,
  }
}

function malformedThrow(peer: NodeDescriptor, what: string): never {
  throw new NetworkError('MALFORMED_FRAME', `node ${peer.nodeId} answered a node-info query with ${what}`)
}
