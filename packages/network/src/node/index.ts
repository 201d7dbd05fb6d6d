/**
 * `@runnel/network/node`: Node.js-only parts of the network layer.
 *
 * @example
 * ```ts
 * import { WebSocketTransport } from '@runnel/network/node'
 * const transport = new WebSocketTransport({ host: '127.0.0.1', port: 0 })
 * ```
 * @packageDocumentation
 */
export { WebSocketTransport, type WebSocketTransportOptions } from './WebSocketTransport.js'
export { createNodeWebRtcTransport } from './webrtc.js'
