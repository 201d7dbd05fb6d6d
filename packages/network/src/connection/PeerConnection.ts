import {
  bytesToHex,
  checkSignatureFormat,
  type Clock,
  type MessageSigner,
  type SignatureVerifier,
  type Timer,
} from '@runnel/protocol'
import { NetworkError } from '../errors.js'
import { GoodbyeCode, type ControlMessage } from '../generated/runnel/network/v1/network_pb.js'
import {
  createHandshakePayload,
  descriptorFromProto,
  descriptorToProto,
  type NodeDescriptor,
  type NodeId,
} from '../identity.js'
import type { ConnectionHandlers, TransportConnection } from '../transport/Transport.js'
import { decodeFrame, encodeControlFrame, type ControlMessageInit, type DecodedFrame } from '../wire/frames.js'
import {
  DEFAULT_PEER_CONNECTION_OPTIONS,
  type CloseCause,
  type PeerConnectionOptions,
  type PeerConnectionStats,
} from './peerConnectionOptions.js'
import { TokenBucket } from './TokenBucket.js'

export {
  DEFAULT_PEER_CONNECTION_OPTIONS,
  type CloseCause,
  type PeerConnectionOptions,
  type PeerConnectionStats,
} from './peerConnectionOptions.js'

/** What the owner of a PeerConnection hears from it. */
export interface PeerConnectionEvents {
  onReady(connection: PeerConnection): void
  onControl(connection: PeerConnection, message: ControlMessage): void
  /** `frame` is the whole data frame (to forward as is); `message` the StreamMessage bytes inside it. */
  onData(connection: PeerConnection, frame: Uint8Array, message: Uint8Array): void
  onClose(connection: PeerConnection, cause: CloseCause, detail: string): void
}

/** The collaborators a PeerConnection needs. */
export interface PeerConnectionComponents {
  readonly localDescriptor: NodeDescriptor
  /** Random bytes of this running node, the same on all its connections (see Hello.instance_id). */
  readonly instanceId: Uint8Array
  /** How long this node has run, in ms (see Hello.uptime_ms). Default 0. */
  readonly uptimeMs?: () => number
  readonly signer: MessageSigner
  readonly verifier: SignatureVerifier
  readonly events: PeerConnectionEvents
  /** Times the handshake, pings and idleness, and feeds the rate limits. */
  readonly clock: Clock
}

type State = 'handshaking' | 'ready' | 'closed'

const MAX_HELD_FRAMES = 1000
const MAX_INSTANCE_ID_LENGTH = 32

function isHandshake(decoded: DecodedFrame): boolean {
  return (
    decoded.type === 'control' && (decoded.control.body.case === 'hello' || decoded.control.body.case === 'helloProof')
  )
}

/**
 * A transport connection with a proven peer identity: both sides exchange
 * descriptors and sign each other's nonce, then keep the connection alive,
 * bound what they buffer for each other, and disconnect peers that send
 * garbage, oversized frames or floods.
 */
export class PeerConnection {
  readonly stats: PeerConnectionStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, framesDropped: 0 }
  /** True when this side dialed. */
  readonly outbound: boolean
  /**
   * The owner's bookkeeping for eviction, kept here rather than in maps by
   * node id (two ~2 KiB tables per trackerless node, and a map write per
   * frame): when the peer last sent something, as a counter so even events of
   * one instant are ordered, and when the connection was accepted (clock ms;
   * fresh ones are spared).
   */
  lastActivity = 0
  /** `lastActivity` when the connection was accepted: equal to it, the peer has sent nothing since. */
  acceptedActivity = 0
  acceptedAt = -Infinity
  /** The owner's: a dial of this node opened it and got it (not an older one a duplicate resolved to). */
  freshDial = false
  /** The owner's: a dialled connection that closed while being adopted, before its dial waited on it: why. */
  closedBeforeWaiting: NetworkError | undefined
  /** `lastActivity` at the owner's last idle sweep: unchanged at the next one, the connection went unused for a whole period. */
  sweptActivity = -1
  private state: State = 'handshaking'
  private remote: NodeDescriptor | undefined
  private remoteInstanceId = ''
  private remoteUptimeMs = 0
  /** The uptime this side's Hello carried: both ends compare the same two numbers. */
  readonly localUptimeMs: number
  private holder: NodeDescriptor | undefined
  // Made when first needed and dropped when done with (probes, held frames, the nonce, the handshake timer): a
  // trackerless node holds ~40 connections, and most never probe or hold a frame.
  private probes: Map<number, (alive: boolean) => void> | undefined
  private remoteProofVerified = false
  private proofSent = false
  private wasReady = false
  /** Closed as the loser of a duplicate: data frames the peer sent on it before it learnt so are still delivered. */
  private draining = false
  private heldFrames: Uint8Array[] | undefined
  private localNonce: Uint8Array | undefined
  private readonly frameBucket: TokenBucket
  private readonly byteBucket: TokenBucket
  private lastReceivedAt: number
  private pingId = 0
  private handshakeTimer: Timer | undefined

  constructor(
    readonly transportConnection: TransportConnection,
    outbound: boolean,
    private readonly components: PeerConnectionComponents,
    private readonly options: PeerConnectionOptions = DEFAULT_PEER_CONNECTION_OPTIONS,
  ) {
    this.outbound = outbound
    this.localUptimeMs = Math.max(0, Math.floor(components.uptimeMs?.() ?? 0))
    const { clock } = components
    const now = clockReader(clock)
    this.lastReceivedAt = now()
    const nonce = crypto.getRandomValues(new Uint8Array(32))
    this.localNonce = nonce
    // A burst of one second's allowance absorbs bursty publishers without letting floods through.
    this.frameBucket = new TokenBucket(options.maxFramesPerSecond, options.maxFramesPerSecond, now)
    this.byteBucket = new TokenBucket(options.maxBytesPerSecond, options.maxBytesPerSecond, now)
    // Armed before the handlers: a transport hands over what arrived before them at once, and a connection the peer
    // closed right away (refused at admission, say) finishes in there, cancelling it; armed after, it would linger.
    this.handshakeTimer = clock.setTimeout(() => {
      if (this.state === 'handshaking') this.close('handshake-failed', 'handshake timed out')
    }, options.handshakeTimeoutMs)
    transportConnection.setHandlers(new TransportEvents(this))
    this.sendControl({
      case: 'hello',
      value: {
        descriptor: descriptorToProto(components.localDescriptor),
        nonce,
        instanceId: components.instanceId,
        uptimeMs: BigInt(this.localUptimeMs),
      },
    })
  }

  /** The peer's descriptor; defined once the connection is ready. */
  get peer(): NodeDescriptor {
    if (this.remote === undefined) throw new NetworkError('INVALID_STATE', 'handshake not complete')
    return this.remote
  }

  get peerId(): NodeId {
    return this.peer.nodeId
  }

  /** How long the peer had run when it sent its Hello, in ms; 0 when it didn't say. */
  get peerUptimeMs(): number {
    return this.remoteUptimeMs
  }

  /** The peer's instance id as hex; '' when the peer sent none (an older node). */
  get peerInstanceId(): string {
    return this.remoteInstanceId
  }

  get isReady(): boolean {
    return this.state === 'ready'
  }

  /**
   * The node descriptor a peer's `Goodbye{IDENTITY_IN_USE}` named as holding
   * this node's id at that peer (unverified: the peer's word); undefined
   * otherwise. Set before the close is reported.
   */
  get identityHolder(): NodeDescriptor | undefined {
    return this.holder
  }

  /** True once the handshake completed, even if the connection has closed since. */
  get isReadyOnce(): boolean {
    return this.wasReady
  }

  get isClosed(): boolean {
    return this.state === 'closed'
  }

  /**
   * Sends a frame unless the send buffer is over its limit, in which case the
   * frame is dropped and counted: a slow peer costs at most the limit.
   */
  send(frame: Uint8Array): boolean {
    if (this.state === 'closed') return false
    if (this.transportConnection.bufferedAmount > this.options.sendBufferLimit) {
      this.stats.framesDropped++
      return false
    }
    this.stats.framesOut++
    this.stats.bytesOut += frame.length
    this.transportConnection.send(frame)
    return true
  }

  sendControl(body: ControlMessageInit): boolean {
    return this.send(encodeControlFrame(body))
  }

  /**
   * Resolves true when the peer answers a ping within `timeoutMs`; false on
   * timeout or close. Tells a live connection from a half-open one.
   */
  probe(timeoutMs: number): Promise<boolean> {
    if (this.state !== 'ready') return Promise.resolve(false)
    return new Promise((resolve) => {
      this.pingId = (this.pingId + 1) >>> 0
      const id = this.pingId
      const timer = this.components.clock.setTimeout(() => settle(false), timeoutMs)
      const settle = (alive: boolean): void => {
        timer.cancel()
        this.probes?.delete(id)
        resolve(alive)
      }
      ;(this.probes ??= new Map()).set(id, settle)
      this.sendControl({ case: 'ping', value: { id } })
    })
  }

  /**
   * Says goodbye and closes. `holder`, with 'identity-in-use', is the
   * connection that holds the peer's node id here: the goodbye names it, so
   * the peer can check the claim by dialling it (see {@link identityHolder}).
   */
  close(cause: CloseCause = 'local', detail = '', holder?: NodeDescriptor): void {
    if (this.state === 'closed') return
    if (
      cause === 'local' ||
      cause === 'duplicate' ||
      cause === 'identity-in-use' ||
      cause === 'identity-check' ||
      cause === 'evicted' ||
      cause === 'trimmed' ||
      cause === 'address-cap'
    ) {
      const inUse = cause === 'identity-in-use' || cause === 'identity-check'
      const code = inUse
        ? GoodbyeCode.IDENTITY_IN_USE
        : cause === 'duplicate'
          ? GoodbyeCode.DUPLICATE
          : GoodbyeCode.UNSPECIFIED
      this.sendControl({
        case: 'goodbye',
        value: {
          reason: detail || cause,
          code,
          ...(inUse && holder !== undefined ? { holder: descriptorToProto(holder) } : {}),
        },
      })
    }
    // Finish first: the transport reports its own close synchronously, and
    // the cause recorded must be ours, not 'remote-gone'.
    this.finish(cause, detail)
    // The peer keeps the other connection, but until our goodbye reaches it, it may still send on this one (both
    // were ready at its end): those messages went nowhere else, so they are taken until the transport has closed.
    this.draining = cause === 'duplicate' && this.wasReady
    this.transportConnection.close(detail || cause, { drain: this.draining })
  }

  /** @internal */
  finish(cause: CloseCause, detail: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.handshakeTimer?.cancel()
    this.handshakeTimer = undefined
    this.heldFrames = undefined
    if (this.probes !== undefined) for (const settle of [...this.probes.values()]) settle(false)
    this.components.events.onClose(this, cause, detail)
  }

  /** @internal What the transport connection reports (see {@link TransportEvents}). */
  handleFrame(frame: Uint8Array): void {
    if (this.state === 'closed' && !this.draining) return
    this.stats.framesIn++
    this.stats.bytesIn += frame.length
    this.lastReceivedAt = this.components.clock.now()
    if (frame.length > this.options.maxFrameSize) {
      this.close('frame-too-large', `frame of ${frame.length} bytes exceeds ${this.options.maxFrameSize}`)
      return
    }
    if (!this.frameBucket.take(1) || !this.byteBucket.take(frame.length)) {
      this.close('flooding', 'peer exceeded its rate limit')
      return
    }
    let decoded: DecodedFrame
    try {
      decoded = decodeFrame(frame)
    } catch (err) {
      this.close('malformed-frame', err instanceof Error ? err.message : String(err))
      return
    }
    if (this.state === 'closed') {
      this.drain(frame, decoded)
      return
    }
    if (this.state !== 'ready' && this.remoteProofVerified && !isHandshake(decoded)) {
      // The peer proved itself and went ready while our own proof is still
      // being signed (a slow wallet, say): hold its frames until we are ready.
      this.heldFrames ??= []
      if (this.heldFrames.length >= MAX_HELD_FRAMES) {
        this.close('protocol-violation', 'too many frames before handshake completed')
        return
      }
      this.heldFrames.push(frame)
      return
    }
    this.dispatch(frame, decoded)
  }

  /** Draining a duplicate: its data only; the peer's control messages go over the connection it keeps. */
  private drain(frame: Uint8Array, decoded: DecodedFrame): void {
    if (decoded.type === 'data') this.components.events.onData(this, frame, decoded.message)
  }

  private dispatch(frame: Uint8Array, decoded: DecodedFrame): void {
    if (decoded.type === 'data') {
      if (this.state !== 'ready') {
        this.close('protocol-violation', 'data before handshake')
        return
      }
      this.components.events.onData(this, frame, decoded.message)
      return
    }
    this.handleControl(decoded.control)
  }

  private handleControl(message: ControlMessage): void {
    const body = message.body
    switch (body.case) {
      case 'hello':
        this.handleHello(body.value.descriptor, body.value.nonce, body.value.instanceId, body.value.uptimeMs)
        return
      case 'helloProof':
        this.handleProof(body.value.signature)
        return
      case 'ping':
        this.sendControl({ case: 'pong', value: { id: body.value.id } })
        return
      case 'pong':
        this.probes?.get(body.value.id)?.(true)
        return
      case 'goodbye':
        if (body.value.code === GoodbyeCode.IDENTITY_IN_USE && body.value.holder !== undefined) {
          try {
            this.holder = descriptorFromProto(body.value.holder)
          } catch {
            // A malformed holder only loses the hint; the goodbye still closes.
          }
        }
        this.finish(
          goodbyeCause(body.value.code, this.remote?.nodeId === this.components.localDescriptor.nodeId),
          body.value.reason,
        )
        this.transportConnection.close('goodbye')
        return
      default:
        if (this.state !== 'ready') {
          this.close('protocol-violation', `${String(body.case)} before handshake`)
          return
        }
        this.components.events.onControl(this, message)
    }
  }

  private handleHello(
    descriptorProto: Parameters<typeof descriptorFromProto>[0],
    nonce: Uint8Array,
    instanceId: Uint8Array,
    uptimeMs: bigint,
  ): void {
    if (this.remote !== undefined || nonce.length !== 32 || instanceId.length > MAX_INSTANCE_ID_LENGTH) {
      this.close(
        'handshake-failed',
        this.remote !== undefined
          ? 'second hello'
          : nonce.length !== 32
            ? 'nonce must be 32 bytes'
            : `instance id longer than ${MAX_INSTANCE_ID_LENGTH} bytes`,
      )
      return
    }
    this.remoteInstanceId = bytesToHex(instanceId)
    // Beyond 2^53 ms (285,000 years) it is garbage; saturate rather than lose precision.
    this.remoteUptimeMs = uptimeMs > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(uptimeMs)
    try {
      this.remote = descriptorFromProto(descriptorProto)
    } catch (err) {
      this.close('handshake-failed', err instanceof Error ? err.message : String(err))
      return
    }
    const payload = createHandshakePayload(nonce, this.components.localDescriptor)
    this.components.signer.signPersonalMessage(payload).then(
      (signature) => {
        this.proofSent = this.sendControl({ case: 'helloProof', value: { signature } })
        this.maybeReady()
      },
      (err: unknown) => this.close('handshake-failed', `signing failed: ${String(err)}`),
    )
  }

  private handleProof(signature: Uint8Array): void {
    if (this.remote === undefined || this.remoteProofVerified || this.localNonce === undefined) {
      this.close('handshake-failed', 'unexpected proof')
      return
    }
    try {
      checkSignatureFormat(signature)
    } catch (err) {
      this.close('handshake-failed', `malformed proof: ${String(err)}`)
      return
    }
    const payload = createHandshakePayload(this.localNonce, this.remote)
    const signer = this.components.verifier.recoverPersonalMessageSigner(payload, signature)
    if (signer !== this.remote.nodeId) {
      this.close('handshake-failed', `proof is not signed by ${this.remote.nodeId}`)
      return
    }
    this.remoteProofVerified = true
    this.localNonce = undefined
    this.maybeReady()
  }

  private maybeReady(): void {
    // Ready needs both our proof sent (signing is async) and theirs verified.
    if (this.state !== 'handshaking' || !this.remoteProofVerified || !this.proofSent) return
    this.state = 'ready'
    this.wasReady = true
    this.handshakeTimer?.cancel()
    this.handshakeTimer = undefined
    // Taken first: the owner may close it as a duplicate in onReady, and its held data still counts then.
    const held = this.heldFrames ?? []
    this.heldFrames = undefined
    this.components.events.onReady(this)
    for (const frame of held) {
      if (this.state === 'ready') this.dispatch(frame, decodeFrame(frame))
      // Closed as a duplicate on becoming ready: its held data still counts (see `draining`).
      else if (this.draining) this.drain(frame, decodeFrame(frame))
      else return
    }
  }

  /**
   * The owner's keep-alive tick, every `pingIntervalMs` for all its
   * connections at once (a timer per connection was ~200 bytes each, and
   * a simulation's timer queue grew with every connection): pings the peer,
   * or closes the connection when nothing arrived for `idleTimeoutMs`.
   *
   * @internal
   */
  keepAlive(now: number): void {
    if (this.state !== 'ready') return
    if (now - this.lastReceivedAt > this.options.idleTimeoutMs) {
      this.close('idle-timeout', `nothing received for ${this.options.idleTimeoutMs} ms`)
      return
    }
    this.pingId = (this.pingId + 1) >>> 0
    this.sendControl({ case: 'ping', value: { id: this.pingId } })
  }
}

/** Why the peer's goodbye closed a connection; `toSelf`: the peer proved this node's own id (another process). */
function goodbyeCause(code: GoodbyeCode, toSelf: boolean): CloseCause {
  switch (code) {
    case GoodbyeCode.IDENTITY_IN_USE:
      return toSelf ? 'identity-check' : 'identity-in-use'
    case GoodbyeCode.DUPLICATE:
      return 'remote-duplicate'
    default:
      return 'remote-goodbye'
  }
}

/**
 * A connection's transport handlers as one small object: two closures and
 * their context were ~200 bytes per connection.
 */
class TransportEvents implements ConnectionHandlers {
  constructor(private readonly connection: PeerConnection) {}

  onFrame(frame: Uint8Array): void {
    this.connection.handleFrame(frame)
  }

  onClose(reason: string): void {
    this.connection.finish('remote-gone', reason)
  }
}

const clockReaders = new WeakMap<Clock, () => number>()

/** One `now` function per clock for the token buckets, shared by every connection on it. */
function clockReader(clock: Clock): () => number {
  let read = clockReaders.get(clock)
  if (read === undefined) {
    read = () => clock.now()
    clockReaders.set(clock, read)
  }
  return read
}
