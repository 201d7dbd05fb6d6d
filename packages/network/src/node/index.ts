/**
 * `@runnel/network/node`: Node.js-only parts of the network layer.
 *
 * @example
 * ```ts
 * import { MultiTransport } from '@runnel/network'
 * import { WebSocketTransport, createNodeWebRtcTransport } from '@runnel/network/node'
 * const transport = new MultiTransport([new WebSocketTransport({ host: '127.0.0.1', port: 0 }), createNodeWebRtcTransport()])
 * ```
 * @packageDocumentation
 */
export { WebSocketTransport, type WebSocketTransportOptions } from './WebSocketTransport.js'
export { createNodeWebRtcTransport } from './webrtc.js'
