/**
 * `@runnel/node`: the Runnel node daemon. A Runnel client plus API plugins
 * (WebSocket, HTTP, MQTT) for apps in any language, Prometheus metrics and
 * structured logs.
 *
 * @example
 * ```ts
 * import { RunnelNode, loadConfigFile } from '@runnel/node'
 * const node = new RunnelNode(await loadConfigFile('node.json'))
 * await node.start()
 * process.once('SIGTERM', () => void node.stop())
 * ```
 * @packageDocumentation
 */
export { ApiGateway, type ApiSubscription } from './api/ApiGateway.js'
export type { BatchMessage } from './api/requests.js'
export { toApiError, type ApiError } from './api/ApiError.js'
export { ApiKeyGuard } from './api/ApiKeyGuard.js'
export {
  DEFAULT_PORTS,
  loadConfigFile,
  networkSettingSchemas,
  nodeConfigSchema,
  parseConfig,
  type HttpPluginConfig,
  type MqttPluginConfig,
  type NodeConfig,
  type NodeConfigInput,
  type StoragePluginConfig,
  type WebSocketPluginConfig,
} from './config.js'
export {
  API_ERROR_CODES,
  BatchPublishError,
  NodeError,
  nodeErrorCategory,
  nodeErrorCodeOf,
  type NodeErrorCode,
} from './errors.js'
export { createLogger, type Logger } from './logger.js'
export { NodeMetrics, type ApiName } from './metrics.js'
export type { ApiPlugin } from './plugins/ApiPlugin.js'
export {
  DataUnionJoinPlugin,
  MAX_JOIN_METADATA_LENGTH,
  MarketMembership,
  joinRequestMessage,
  type DataUnionJoinComponents,
  type DataUnionJoinPluginConfig,
  type DataUnionMembership,
  type JoinCheck,
  type JoinPartRecord,
  type JoinRequest,
  type JoinRequestFields,
  type MembershipAction,
} from './plugins/dataUnionJoin/index.js'
export { RunnelNode, type NodeInfo, type RunnelNodeComponents } from './RunnelNode.js'
export { NODE_VERSION } from './version.js'
export * from './plugins/dataUnionState/index.js'
