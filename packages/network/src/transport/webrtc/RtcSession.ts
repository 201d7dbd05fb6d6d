import type { Clock, Timer } from '@runnel/protocol'
import { NetworkError } from '../../errors.js'
import type { NodeId } from '../../identity.js'
import { DataChannelConnection, type DataChannelLike } from './DataChannelConnection.js'
import type { RtcSignalKind } from './signalling.js'

/** Label and id of the one data channel per session; negotiated on both ends, so neither waits for the other to open it. */
const CHANNEL_LABEL = 'runnel'
const CHANNEL_ID = 0

/** What a session needs from its transport. */
export interface RtcSessionContext {
  readonly createPeerConnection: () => RTCPeerConnection
  /** Sends a signal of this session to the remote node; returns the number of routes it went out on. */
  readonly sendSignal: (kind: RtcSignalKind, payload: string, mid?: string) => number
  readonly clock: Clock
  /** The session fails unless its channel opens within this time. */
  readonly connectTimeoutMs: number
  /** How long a closed connection waits for its channel to finish closing before the peer connection goes. */
  readonly closeGraceMs: number
  readonly maxCandidates: number
  readonly maxFrameSize: number
  /** Counts a signal the session refused (and the transport logs it). */
  readonly refuse: (reason: string, detail?: string) => void
  /** The channel opened: the session's connection is ready to use. */
  readonly onOpen: (session: RtcSession, connection: DataChannelConnection) => void
  /** The session is over (failed, or its connection closed and the peer connection is released). */
  readonly onEnd: (session: RtcSession, error: NetworkError | undefined) => void
}

type State = 'negotiating' | 'open' | 'ending' | 'ended'

/**
 * One WebRTC negotiation and the peer connection it yields. The dialler
 * offers and holds its ICE candidates until the answer arrives (candidates
 * reaching the acceptor before it knows the offerer's answer-side state made
 * libjuice's first checks fail and retry after a second); the acceptor
 * answers. Remote candidates that arrive before the remote description wait
 * for it. A session that doesn't open within `connectTimeoutMs`, whose ICE
 * fails, or whose signals are refused by every route, fails with
 * `CONNECTION_FAILED`.
 */
export class RtcSession {
  private state: State = 'negotiating'
  private peerConnection: RTCPeerConnection | undefined
  private channel: (DataChannelLike & Pick<RTCDataChannel, 'onopen' | 'addEventListener'>) | undefined
  private connection: DataChannelConnection | undefined
  private remoteDescriptionSet = false
  private answered = false
  private readonly pendingRemoteCandidates: RTCIceCandidateInit[] = []
  private remoteCandidateCount = 0
  private heldLocalCandidates: [string, string][] | undefined = []
  private routes = 0
  private unreachable = 0
  private readonly timer: Timer

  constructor(
    readonly role: 'dialler' | 'acceptor',
    readonly peerId: NodeId,
    readonly connectionId: string,
    private readonly context: RtcSessionContext,
  ) {
    this.timer = context.clock.setTimeout(
      () =>
        this.fail(
          `no WebRTC connection to ${peerId} within ${context.connectTimeoutMs} ms` +
            (this.peerConnection === undefined ? '' : ` (ICE ${this.peerConnection.iceConnectionState})`),
        ),
      context.connectTimeoutMs,
    )
  }

  get isOpen(): boolean {
    return this.state === 'open'
  }

  /** Dialler: creates the offer and sends it. */
  async offer(): Promise<void> {
    const peerConnection = this.createPeerConnection()
    if (peerConnection === undefined) return
    try {
      const offer = await peerConnection.createOffer()
      if (this.state !== 'negotiating') return
      await peerConnection.setLocalDescription(offer)
      if (this.state !== 'negotiating') return
      this.routes = this.context.sendSignal('offer', offer.sdp ?? '')
    } catch (err) {
      this.fail(`could not create an offer: ${describe(err)}`)
      return
    }
    if (this.routes === 0) this.fail(`no route to signal ${this.peerId}: no connected peer can relay to it`)
  }

  /** Acceptor: takes the dialler's offer and answers it. */
  async accept(sdp: string): Promise<void> {
    const peerConnection = this.createPeerConnection()
    if (peerConnection === undefined) return
    try {
      await peerConnection.setRemoteDescription({ type: 'offer', sdp })
    } catch (err) {
      this.context.refuse('invalid-description', describe(err))
      this.context.sendSignal('unreachable', 'invalid offer')
      this.fail(`invalid offer from ${this.peerId}: ${describe(err)}`)
      return
    }
    if (this.state !== 'negotiating') return
    this.remoteDescriptionSet = true
    this.addPendingRemoteCandidates()
    try {
      // After the remote offer: created before it, the channel would make the acceptor offer too.
      this.openChannel(peerConnection)
      const answer = await peerConnection.createAnswer()
      if (this.state !== 'negotiating') return
      await peerConnection.setLocalDescription(answer)
      if (this.state !== 'negotiating') return
      this.context.sendSignal('answer', answer.sdp ?? '')
    } catch (err) {
      this.context.sendSignal('unreachable', 'could not answer')
      this.fail(`could not answer ${this.peerId}: ${describe(err)}`)
      return
    }
    this.releaseLocalCandidates()
  }

  /** A signal of this session from the remote node (other than the offer). */
  handleSignal(kind: RtcSignalKind, payload: string, mid: string): void {
    if (this.state !== 'negotiating') return
    switch (kind) {
      case 'answer':
        void this.takeAnswer(payload)
        return
      case 'candidate':
        this.takeCandidate(payload, mid)
        return
      case 'unreachable':
        // The dialler counts refusals against the routes its offer took: one relay that isn't connected to the
        // target doesn't end the attempt while another may still deliver.
        this.unreachable++
        if (this.role === 'acceptor' || this.unreachable >= this.routes) {
          this.fail(`${this.peerId} is unreachable over WebRTC: ${payload.slice(0, 200)}`)
        }
        return
      case 'offer':
        this.context.refuse('unexpected-signal', 'offer for an existing session')
        return
    }
  }

  /** Ends the session before it opened (abort, transport stopping). */
  abort(reason: string): void {
    if (this.state !== 'negotiating') return
    if (this.peerConnection !== undefined) this.context.sendSignal('unreachable', reason)
    this.end(new NetworkError('ABORTED', reason))
  }

  /** Closes the open connection, or ends the negotiation; resolves once the peer connection is released. */
  close(reason: string): Promise<void> {
    if (this.state === 'negotiating') this.abort(reason)
    else this.connection?.close(reason)
    return this.ended
  }

  private resolveEnded: () => void = () => undefined
  /** Settles once the peer connection is closed. */
  readonly ended = new Promise<void>((resolve) => (this.resolveEnded = resolve))

  private createPeerConnection(): RTCPeerConnection | undefined {
    let peerConnection: RTCPeerConnection
    try {
      peerConnection = this.context.createPeerConnection()
    } catch (err) {
      this.fail(`cannot create a peer connection: ${describe(err)}`)
      return undefined
    }
    this.peerConnection = peerConnection
    peerConnection.onicecandidate = (event) => this.takeLocalCandidate(event.candidate)
    peerConnection.onconnectionstatechange = () => {
      const state = peerConnection.connectionState
      if (state === 'failed' || state === 'closed') {
        if (this.state === 'negotiating') this.fail(`WebRTC connection to ${this.peerId} ${state}`)
        else this.connection?.reportClose(`peer connection ${state}`)
      }
    }
    if (this.role === 'dialler') {
      try {
        this.openChannel(peerConnection)
      } catch (err) {
        this.fail(`cannot create a data channel: ${describe(err)}`)
        return undefined
      }
    }
    return peerConnection
  }

  private openChannel(peerConnection: RTCPeerConnection): void {
    const channel = peerConnection.createDataChannel(CHANNEL_LABEL, { negotiated: true, id: CHANNEL_ID, ordered: true })
    this.channel = channel
    channel.onopen = () => this.opened()
  }

  private opened(): void {
    const channel = this.channel
    if (this.state !== 'negotiating' || channel === undefined) return
    this.state = 'open'
    this.timer.cancel()
    const connection = new DataChannelConnection(
      channel,
      `webrtc:${this.peerId}`,
      {
        maxFrameSize: this.context.maxFrameSize,
        channelMessageSize: this.peerConnection?.sctp?.maxMessageSize ?? undefined,
      },
      () => this.connectionClosed(),
    )
    this.connection = connection
    this.context.onOpen(this, connection)
  }

  private async takeAnswer(sdp: string): Promise<void> {
    const peerConnection = this.peerConnection
    if (this.role !== 'dialler' || this.answered || peerConnection === undefined) {
      this.context.refuse('unexpected-signal', 'answer the session did not ask for')
      return
    }
    this.answered = true
    try {
      await peerConnection.setRemoteDescription({ type: 'answer', sdp })
    } catch (err) {
      this.context.refuse('invalid-description', describe(err))
      this.fail(`invalid answer from ${this.peerId}: ${describe(err)}`)
      return
    }
    if (this.state !== 'negotiating') return
    this.remoteDescriptionSet = true
    this.addPendingRemoteCandidates()
    this.releaseLocalCandidates()
  }

  private takeCandidate(candidate: string, mid: string): void {
    if (!candidate.startsWith('candidate:')) {
      this.context.refuse('invalid-candidate', 'not a candidate line')
      return
    }
    if (++this.remoteCandidateCount > this.context.maxCandidates) {
      this.context.refuse('too-many-candidates', `more than ${this.context.maxCandidates}`)
      return
    }
    const init: RTCIceCandidateInit = { candidate, sdpMid: mid === '' ? '0' : mid }
    if (!this.remoteDescriptionSet) {
      this.pendingRemoteCandidates.push(init)
      return
    }
    this.addRemoteCandidate(init)
  }

  private addPendingRemoteCandidates(): void {
    for (const init of this.pendingRemoteCandidates.splice(0)) this.addRemoteCandidate(init)
  }

  private addRemoteCandidate(init: RTCIceCandidateInit): void {
    this.peerConnection?.addIceCandidate(init).catch((err: unknown) => {
      this.context.refuse('invalid-candidate', describe(err))
    })
  }

  private takeLocalCandidate(candidate: RTCIceCandidate | null): void {
    if (candidate === null || this.state !== 'negotiating') return
    // node-datachannel writes the SDP attribute form; the standard form has no "a=".
    const line = candidate.candidate.startsWith('a=') ? candidate.candidate.slice(2) : candidate.candidate
    if (line === '') return // end of candidates
    const mid = candidate.sdpMid ?? ''
    if (this.heldLocalCandidates !== undefined) {
      this.heldLocalCandidates.push([line, mid])
      return
    }
    this.context.sendSignal('candidate', line, mid)
  }

  private releaseLocalCandidates(): void {
    const held = this.heldLocalCandidates ?? []
    this.heldLocalCandidates = undefined
    for (const [line, mid] of held) this.context.sendSignal('candidate', line, mid)
  }

  private fail(message: string): void {
    if (this.state !== 'negotiating') return
    this.end(new NetworkError('CONNECTION_FAILED', message))
  }

  private end(error: NetworkError | undefined): void {
    if (this.state === 'ending' || this.state === 'ended') return
    this.state = 'ending'
    this.timer.cancel()
    this.pendingRemoteCandidates.length = 0
    this.heldLocalCandidates = undefined
    try {
      this.channel?.close()
    } catch {
      // Closing anyway.
    }
    this.releasePeerConnection()
    this.context.onEnd(this, error)
  }

  /** The open connection closed (either end): let the channel finish closing, then release the peer connection. */
  private connectionClosed(): void {
    if (this.state !== 'open') return
    this.state = 'ending'
    const channel = this.channel
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      grace.cancel()
      this.releasePeerConnection()
      this.context.onEnd(this, undefined)
    }
    // The close notice and the stream reset leave before the peer connection closes, so the remote end learns why.
    const grace = this.context.clock.setTimeout(release, this.context.closeGraceMs)
    if (channel === undefined || channel.readyState === 'closed') release()
    else channel.addEventListener('close', release)
  }

  private releasePeerConnection(): void {
    if (this.state === 'ended') return
    this.state = 'ended'
    try {
      this.peerConnection?.close()
    } catch {
      // Already closed.
    }
    this.resolveEnded()
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
