import type { NodeId } from '../../identity.js'
import type { Transport } from '../Transport.js'

/**
 * What one signal carries: `offer`/`answer` an SDP, `candidate` one ICE
 * candidate line (with its `mid`), `unreachable` a reason (the signal could
 * not be delivered, or the target refuses the session).
 */
export type RtcSignalKind = 'offer' | 'answer' | 'candidate' | 'unreachable'

/** One WebRTC signalling message between two nodes (the wire's `RtcSignal`, with ids as node ids). */
export interface RtcSignal {
  readonly sourceId: NodeId
  readonly targetId: NodeId
  /** Chosen by the dialler; names the session in every signal of it. */
  readonly connectionId: string
  readonly kind: RtcSignalKind
  readonly payload: string
  /** The candidate's media stream id (sdpMid); '' for other kinds. */
  readonly mid: string
}

/**
 * How a WebRTC transport reaches other nodes before it has a connection to
 * them: the node carries its signals over connections it already has (to a
 * tracker, or to a peer connected to the target). `SignalRelay` is the node's
 * implementation; tests may pass an in-memory one.
 */
export interface Signaller {
  /** The id of the node the transport belongs to; its address is `webrtc:<id>`. */
  readonly localNodeId: NodeId
  /**
   * Sends a signal towards `signal.targetId`. Returns how many routes it went
   * out on (relays, or the target itself); 0 means there is no route at all.
   */
  send(signal: RtcSignal): number
  /** Where signals addressed to this node go; `undefined` stops delivering them. */
  setReceiver(receiver: ((signal: RtcSignal) => void) | undefined): void
}

/** A transport that needs a {@link Signaller} from the node before it starts. */
export interface SignallingTransport extends Transport {
  attachSignaller(signaller: Signaller): void
}

export function isSignallingTransport(transport: Transport): transport is SignallingTransport {
  return typeof (transport as Partial<SignallingTransport>).attachSignaller === 'function'
}

/**
 * Bounds on signals, checked by relays and by the transport. A data-channel
 * only SDP is about 500 bytes and a candidate line about 100; browsers with
 * many interfaces stay well under the payload limit.
 */
export const RTC_SIGNAL_LIMITS = {
  /** Longest payload (SDP, candidate or reason), in UTF-16 code units as carried. */
  maxPayloadLength: 8_192,
  maxConnectionIdLength: 64,
  maxMidLength: 16,
} as const

export const WEBRTC_ADDRESS_PREFIX = 'webrtc:'

const WEBRTC_ADDRESS_PATTERN = /^webrtc:(0x[0-9a-f]{40})$/

/**
 * The address a node reachable over WebRTC advertises.
 *
 * @example
 * ```ts
 * webRtcAddress('0x1234…') // 'webrtc:0x1234…'
 * ```
 */
export function webRtcAddress(nodeId: NodeId): string {
  return `${WEBRTC_ADDRESS_PREFIX}${nodeId.toLowerCase()}`
}

/**
 * Whether a node can be reached over WebRTC only (a browser, a node behind
 * NAT without a server): it advertises addresses, all of them `webrtc:`. Such
 * a node is dialled through a relay connected to it.
 *
 * @example
 * ```ts
 * isWebRtcOnly(['webrtc:0x1234…']) // true
 * isWebRtcOnly(['ws://10.0.0.2:30301', 'webrtc:0x1234…']) // false
 * ```
 */
export function isWebRtcOnly(addresses: readonly string[]): boolean {
  return addresses.length > 0 && addresses.every((address) => address.startsWith(WEBRTC_ADDRESS_PREFIX))
}

/** The node id in a `webrtc:<id>` address (lowercase 0x and 40 hex digits); undefined for anything else. */
export function parseWebRtcAddress(address: string): NodeId | undefined {
  const match = WEBRTC_ADDRESS_PATTERN.exec(address)
  return match === null ? undefined : (match[1] as NodeId)
}

/**
 * Why a signal is malformed (ids aside, which the wire decoder checks), or
 * undefined when it is within the limits.
 */
export function checkSignalLimits(signal: Pick<RtcSignal, 'connectionId' | 'payload' | 'mid'>): string | undefined {
  if (signal.connectionId.length === 0 || signal.connectionId.length > RTC_SIGNAL_LIMITS.maxConnectionIdLength) {
    return `connection id must be 1 to ${RTC_SIGNAL_LIMITS.maxConnectionIdLength} characters`
  }
  if (signal.payload.length > RTC_SIGNAL_LIMITS.maxPayloadLength) {
    return `payload of ${signal.payload.length} characters exceeds ${RTC_SIGNAL_LIMITS.maxPayloadLength}`
  }
  if (signal.mid.length > RTC_SIGNAL_LIMITS.maxMidLength) {
    return `mid longer than ${RTC_SIGNAL_LIMITS.maxMidLength} characters`
  }
  return undefined
}
