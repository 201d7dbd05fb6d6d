import { systemClock, type Clock } from '@runnel/protocol'
import { NetworkError } from '../../errors.js'
import type { NodeId } from '../../identity.js'
import { silentLogger, type Logger } from '../../logger.js'
import type { TransportConnection } from '../Transport.js'
import type { DataChannelConnection } from './DataChannelConnection.js'
import { RtcSession } from './RtcSession.js'
import {
  checkSignalLimits,
  parseWebRtcAddress,
  webRtcAddress,
  type RtcSignal,
  type RtcSignalKind,
  type Signaller,
  type SignallingTransport,
} from './signalling.js'

/** A standard `RTCPeerConnection` constructor: the browser's own, or node-datachannel's polyfill. */
export type RtcPeerConnectionConstructor = new (configuration: RTCConfiguration) => RTCPeerConnection

/** Settings of a {@link WebRtcTransport}; every one has a default. */
export interface WebRtcTransportOptions {
  /**
   * STUN/TURN servers for ICE, as in `RTCConfiguration.iceServers`, e.g.
   * `[{ urls: 'stun:stun.example.org:3478' }]`. Default none: only host
   * candidates, so peers connect on the same network (or across public
   * addresses) and nothing is contacted outside it.
   */
  readonly iceServers?: readonly RTCIceServer[]
  /** A dial (or an accepted offer) whose channel isn't open within this time fails with `CONNECTION_FAILED`. Default 10 s. */
  readonly connectTimeoutMs?: number
  /** Largest frame accepted; a bigger one closes the connection with `FRAME_TOO_LARGE`. Default 1 MiB + 1 KiB. */
  readonly maxFrameSize?: number
  /** Most offers being answered at once; more are refused. Default 32. */
  readonly maxPendingSessions?: number
  /** Most offers being answered at once from one node. Default 4. */
  readonly maxPendingSessionsPerPeer?: number
  /** Most ICE candidates taken from the remote end per session. Default 32. */
  readonly maxCandidatesPerSession?: number
}

/** Collaborators of a {@link WebRtcTransport}; its settings are {@link WebRtcTransportOptions}. */
export interface WebRtcTransportComponents {
  readonly RTCPeerConnection: RtcPeerConnectionConstructor
  readonly clock?: Clock
  /** Refused signals and failed sessions are reported at debug. */
  readonly logger?: Logger
}

/** Counters since the transport was created. */
export interface WebRtcTransportMetrics {
  dials: number
  offersAccepted: number
  /** Sessions whose data channel opened. */
  opened: number
  /** Sessions that failed before opening (timeouts, refusals, bad descriptions). */
  failed: number
  /** Signals refused, by reason: 'invalid-description', 'too-many-pending', 'unknown-session', … */
  readonly refused: Record<string, number>
}

const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024 + 1024
const CLOSE_GRACE_MS = 1_000

/**
 * Connections over WebRTC data channels, on the standard `RTCPeerConnection`
 * API, so one implementation runs in browsers (their own constructor) and in
 * Node.js (node-datachannel's, see `createNodeWebRtcTransport` in
 * `@runnel/network/node`). Its address is `webrtc:<node id>`; a dial sends an
 * offer through the node's {@link Signaller}, and the session that answers
 * becomes a {@link TransportConnection} once its channel opens. Frames are
 * kept whole (fragmented below the channel's message limit), the channel is
 * ordered and reliable, and `bufferedAmount` is the channel's.
 *
 * @example
 * ```ts
 * const transport = new WebRtcTransport({ RTCPeerConnection: globalThis.RTCPeerConnection })
 * const node = new NetworkNode({ transport, signer, verifier }, { trackers }) // the node attaches its signaller
 * ```
 */
export class WebRtcTransport implements SignallingTransport {
  readonly metrics: WebRtcTransportMetrics = { dials: 0, offersAccepted: 0, opened: 0, failed: 0, refused: {} }
  private signaller: Signaller | undefined
  private onConnection: ((connection: TransportConnection) => void) | undefined
  /** By `<remote node id>/<connection id>`. */
  private readonly sessions = new Map<string, RtcSession>()
  private readonly pendingByPeer = new Map<NodeId, number>()
  private pendingAccepts = 0
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly configuration: RTCConfiguration
  private readonly connectTimeoutMs: number
  private readonly maxFrameSize: number
  private readonly maxPendingSessions: number
  private readonly maxPendingSessionsPerPeer: number
  private readonly maxCandidates: number
  private stopped = false

  constructor(
    private readonly components: WebRtcTransportComponents,
    options: WebRtcTransportOptions = {},
  ) {
    this.clock = components.clock ?? systemClock
    this.logger = components.logger ?? silentLogger
    this.configuration = { iceServers: [...(options.iceServers ?? [])] }
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    this.maxPendingSessions = options.maxPendingSessions ?? 32
    this.maxPendingSessionsPerPeer = options.maxPendingSessionsPerPeer ?? 4
    this.maxCandidates = options.maxCandidatesPerSession ?? 32
  }

  attachSignaller(signaller: Signaller): void {
    this.signaller = signaller
  }

  canDial(address: string): boolean {
    return parseWebRtcAddress(address) !== undefined
  }

  start(onConnection: (connection: TransportConnection) => void): Promise<string[]> {
    const signaller = this.signaller
    if (signaller === undefined) {
      return Promise.reject(new NetworkError('INVALID_STATE', 'WebRTC needs a signaller: attach one before start()'))
    }
    this.onConnection = onConnection
    signaller.setReceiver((signal) => this.receive(signal))
    return Promise.resolve([webRtcAddress(signaller.localNodeId)])
  }

  connect(address: string, signal?: AbortSignal): Promise<TransportConnection> {
    const peerId = parseWebRtcAddress(address)
    if (peerId === undefined) {
      return Promise.reject(new NetworkError('INVALID_ADDRESS', `not a WebRTC address: ${address}`))
    }
    if (signal?.aborted === true) {
      return Promise.reject(new NetworkError('ABORTED', `connecting to ${address} was aborted`))
    }
    const signaller = this.signaller
    if (signaller === undefined || this.stopped) {
      return Promise.reject(new NetworkError('INVALID_STATE', 'the WebRTC transport has no signaller or is stopped'))
    }
    if (peerId === signaller.localNodeId) {
      return Promise.reject(new NetworkError('CONNECTION_FAILED', `${address} is this node's own address`))
    }
    this.metrics.dials++
    const connectionId = randomConnectionId()
    return new Promise((resolve, reject) => {
      const onAbort = (): void => session.abort(`connecting to ${address} was aborted`)
      const session = this.createSession('dialler', peerId, connectionId, {
        open: (connection) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(connection)
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      void session.offer()
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.signaller?.setReceiver(undefined)
    this.onConnection = undefined
    const sessions = [...this.sessions.values()]
    await Promise.all(sessions.map((session) => session.close('transport stopped')))
  }

  private receive(signal: RtcSignal): void {
    const signaller = this.signaller
    if (signaller === undefined || this.stopped) return
    const problem = checkSignalLimits(signal)
    if (problem !== undefined) {
      this.refuse('malformed', problem, signal.sourceId)
      return
    }
    if (signal.targetId !== signaller.localNodeId) {
      this.refuse('misdelivered', `signal for ${signal.targetId}`, signal.sourceId)
      return
    }
    const existing = this.sessions.get(sessionKey(signal.sourceId, signal.connectionId))
    if (signal.kind !== 'offer') {
      if (existing === undefined) {
        // Late signals of a finished session are normal; count them all the same.
        this.refuse('unknown-session', signal.kind, signal.sourceId)
        return
      }
      existing.handleSignal(signal.kind, signal.payload, signal.mid)
      return
    }
    if (existing !== undefined) {
      // The same offer through a second relay.
      this.refuse('duplicate-offer', signal.connectionId, signal.sourceId)
      return
    }
    const onConnection = this.onConnection
    const answerRefusal = (reason: string): void =>
      void signaller.send({ ...reply(signal, 'unreachable'), payload: reason })
    if (onConnection === undefined) {
      this.refuse('not-accepting', 'transport not started', signal.sourceId)
      answerRefusal('not accepting WebRTC connections')
      return
    }
    const fromPeer = this.pendingByPeer.get(signal.sourceId) ?? 0
    if (this.pendingAccepts >= this.maxPendingSessions || fromPeer >= this.maxPendingSessionsPerPeer) {
      this.refuse('too-many-pending', `${this.pendingAccepts} pending, ${fromPeer} from this node`, signal.sourceId)
      answerRefusal('too many pending WebRTC sessions')
      return
    }
    this.metrics.offersAccepted++
    this.pendingAccepts++
    this.pendingByPeer.set(signal.sourceId, fromPeer + 1)
    let pending = true
    const settle = (): void => {
      if (!pending) return
      pending = false
      this.pendingAccepts--
      const count = (this.pendingByPeer.get(signal.sourceId) ?? 1) - 1
      if (count === 0) this.pendingByPeer.delete(signal.sourceId)
      else this.pendingByPeer.set(signal.sourceId, count)
    }
    const session = this.createSession('acceptor', signal.sourceId, signal.connectionId, {
      open: (connection) => {
        settle()
        onConnection(connection)
      },
      fail: (error) => {
        settle()
        this.logger.debug('an incoming WebRTC session failed', { peer: signal.sourceId, error: error.message })
      },
    })
    void session.accept(signal.payload)
  }

  private createSession(
    role: 'dialler' | 'acceptor',
    peerId: NodeId,
    connectionId: string,
    outcome: { open(connection: DataChannelConnection): void; fail(error: NetworkError): void },
  ): RtcSession {
    const signaller = this.signaller!
    const key = sessionKey(peerId, connectionId)
    const session = new RtcSession(role, peerId, connectionId, {
      createPeerConnection: () => new this.components.RTCPeerConnection(this.configuration),
      sendSignal: (kind, payload, mid = '') =>
        signaller.send({ sourceId: signaller.localNodeId, targetId: peerId, connectionId, kind, payload, mid }),
      clock: this.clock,
      connectTimeoutMs: this.connectTimeoutMs,
      closeGraceMs: CLOSE_GRACE_MS,
      maxCandidates: this.maxCandidates,
      maxFrameSize: this.maxFrameSize,
      refuse: (reason, detail) => this.refuse(reason, detail, peerId),
      onOpen: (_session, connection) => {
        this.metrics.opened++
        if (this.stopped) {
          connection.close('transport stopped')
          return
        }
        outcome.open(connection)
      },
      onEnd: (ended, error) => {
        if (this.sessions.get(key) === ended) this.sessions.delete(key)
        if (error === undefined) return
        this.metrics.failed++
        outcome.fail(error)
      },
    })
    this.sessions.set(key, session)
    return session
  }

  private refuse(reason: string, detail: string | undefined, peerId: NodeId): void {
    this.metrics.refused[reason] = (this.metrics.refused[reason] ?? 0) + 1
    this.logger.debug('refused a WebRTC signal', { peer: peerId, reason, detail })
  }
}

function sessionKey(peerId: NodeId, connectionId: string): string {
  return `${peerId}/${connectionId}`
}

/** The envelope of an answer to `signal`, from its target back to its source. */
function reply(signal: RtcSignal, kind: RtcSignalKind): RtcSignal {
  return {
    sourceId: signal.targetId,
    targetId: signal.sourceId,
    connectionId: signal.connectionId,
    kind,
    payload: '',
    mid: '',
  }
}

function randomConnectionId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('')
}

/**
 * A {@link WebRtcTransport} on the browser's own `RTCPeerConnection` (any
 * runtime with the standard global). Host candidates only unless
 * `options.iceServers` names STUN/TURN servers.
 *
 * @example
 * ```ts
 * const transport = new MultiTransport([new WebSocketClientTransport(), createBrowserWebRtcTransport()])
 * const node = new NetworkNode({ transport, signer, verifier }, { trackers: ['ws://127.0.0.1:30300'] })
 * ```
 * @throws {@link NetworkError} `INVALID_OPTIONS` when the runtime has no `RTCPeerConnection`
 */
export function createBrowserWebRtcTransport(
  options: WebRtcTransportOptions = {},
  components: Omit<WebRtcTransportComponents, 'RTCPeerConnection'> = {},
): WebRtcTransport {
  const constructor = (globalThis as { RTCPeerConnection?: RtcPeerConnectionConstructor }).RTCPeerConnection
  if (constructor === undefined) {
    throw new NetworkError('INVALID_OPTIONS', 'this runtime has no RTCPeerConnection: use createNodeWebRtcTransport')
  }
  return new WebRtcTransport({ ...components, RTCPeerConnection: constructor }, options)
}
