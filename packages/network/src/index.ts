/**
 * `@runnel/network`: moves signed messages between nodes. Transports,
 * trackers, per-stream-part overlays and propagation. This entry point is
 * browser-safe (its WebRTC transport takes the browser's `RTCPeerConnection`);
 * `@runnel/network/node` adds the Node.js WebSocket server transport and
 * WebRTC on node-datachannel.
 *
 * @example
 * ```ts
 * import { NetworkNode, WebSocketClientTransport } from '@runnel/network'
 * const node = new NetworkNode(
 *   { transport: new WebSocketClientTransport(), signer, verifier: pureSignatureVerifier },
 *   { kind: 'light', trackers: ['ws://127.0.0.1:30300'] },
 * )
 * ```
 * @packageDocumentation
 */
export { NetworkError, type NetworkErrorCode } from './errors.js'
export { consoleLogger, silentLogger, type LogFields, type LogLevel, type Logger } from './logger.js'
export {
  NetworkNode,
  type DeliveryContext,
  type InvalidMessageEvent,
  type JoinOptions,
  type MessageListener,
  type NetworkNodeComponents,
  type NetworkNodeMetrics,
  type NetworkNodeOptions,
} from './NetworkNode.js'
export {
  TrackerServer,
  type TrackerMetrics,
  type TrackerServerComponents,
  type TrackerServerOptions,
} from './tracker/TrackerServer.js'
export { trackerFor } from './tracker/TrackerClient.js'
export type { DiscoveryMode } from './discovery/Discovery.js'
export type { DhtDiscoveryMetrics } from './discovery/DhtDiscovery.js'
export type { IdentityCheckMetrics } from './connection/IdentityCheck.js'
export type { RecordRefusal } from './discovery/entryPoints.js'
export type { NodeDescriptor, NodeId, NodeKind } from './identity.js'
export {
  DEFAULT_PEER_CONNECTION_OPTIONS,
  type CloseCause,
  type PeerConnectionOptions,
} from './connection/PeerConnection.js'
export {
  DEFAULT_RELAY_LIMITS,
  FLOOD_BAN_MS,
  NEIGHBOR_EXCESS_WINDOW_MS,
  type RelayLimitOptions,
} from './overlay/RelayLimits.js'
export { TokenBucket } from './connection/TokenBucket.js'
export { NODE_INFO_LIMITS, type NodeInfo, type StreamPartInfo } from './info/NodeInfoQueries.js'
export { crawlStreamPart, type CrawlOptions, type NodeInfoAsker, type OverlayGraph } from './info/crawl.js'
export type { ConnectionHandlers, Transport, TransportConnection } from './transport/Transport.js'
export {
  ConnectionManager,
  DEFAULT_IDLE_CONNECTION_MS,
  DEFAULT_MAX_CONNECTIONS,
  FRESH_CONNECTION_GRACE_MS,
  type ConnectionManagerComponents,
  type ConnectionManagerEvents,
  type ConnectionManagerLimits,
  type ConnectionManagerStats,
} from './connection/ConnectionManager.js'
export { DEFAULT_INBOUND_CAPS, type InboundCaps } from './connection/AddressCaps.js'
export {
  DhtNode,
  type DhtConnections,
  type DhtMetrics,
  type DhtNodeComponents,
  type DhtNodeOptions,
  type DhtPeer,
  type DhtRecord,
  type DhtRefusal,
  type DhtRefusalKey,
  type FindRecordsProgress,
} from './dht/DhtNode.js'
export { DEFAULT_DHT_NODE_OPTIONS, MAX_KNOWN_PEERS } from './dht/dhtOptions.js'
export { DHT_KEY_LENGTH, dhtKeyOfStreamPart } from './dht/keys.js'
export { MAX_RECORD_VALUE_BYTES } from './dht/records.js'
export {
  Simulator,
  constantLatency,
  regionLatency,
  type LatencyModel,
  type RegionLatencyModel,
  type RegionLatencyOptions,
  type SimulatorOptions,
  type SimulatorStats,
  type SimulatorTransport,
  runFor,
  runUntil,
  settleEventLoop,
  type RunUntilOptions,
} from './transport/simulator/Simulator.js'
export { SeededRandom } from './transport/simulator/random.js'
export {
  WebSocketClientTransport,
  type WebSocketClientTransportOptions,
  type WebSocketConstructor,
} from './transport/websocket/WebSocketClientTransport.js'
export { MultiTransport, chooseDialAddress } from './transport/MultiTransport.js'
export {
  WebRtcTransport,
  createBrowserWebRtcTransport,
  type RtcPeerConnectionConstructor,
  type WebRtcTransportComponents,
  type WebRtcTransportMetrics,
  type WebRtcTransportOptions,
} from './transport/webrtc/WebRtcTransport.js'
export {
  RTC_SIGNAL_LIMITS,
  parseWebRtcAddress,
  webRtcAddress,
  type RtcSignal,
  type RtcSignalKind,
  type Signaller,
  type SignallingTransport,
} from './transport/webrtc/signalling.js'
export type { SignalRefusal, SignalRelayMetrics } from './connection/SignalRelay.js'
export { NETWORK_PROTOCOL_VERSION } from './wire/frames.js'
export { MessageQueue } from './overlay/MessageQueue.js'
