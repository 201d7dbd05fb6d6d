import { RTCPeerConnection } from 'node-datachannel/polyfill'
import {
  WebRtcTransport,
  type RtcPeerConnectionConstructor,
  type WebRtcTransportComponents,
  type WebRtcTransportOptions,
} from '../transport/webrtc/WebRtcTransport.js'

/**
 * A {@link WebRtcTransport} for Node.js, on node-datachannel (libdatachannel)
 * through its standard `RTCPeerConnection` polyfill. Host candidates only
 * unless `options.iceServers` names STUN/TURN servers.
 *
 * @example
 * ```ts
 * const transport = new MultiTransport([new WebSocketTransport({ port: 0 }), createNodeWebRtcTransport()])
 * const node = new NetworkNode({ transport, signer, verifier }, { trackers })
 * ```
 */
export function createNodeWebRtcTransport(
  options: WebRtcTransportOptions = {},
  components: Omit<WebRtcTransportComponents, 'RTCPeerConnection'> = {},
): WebRtcTransport {
  return new WebRtcTransport(
    { ...components, RTCPeerConnection: RTCPeerConnection as unknown as RtcPeerConnectionConstructor },
    options,
  )
}
