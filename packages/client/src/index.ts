/**
 * `@runnel/client`: the Runnel SDK. Streams and permissions on chain, publish
 * and subscribe over the network; browser-safe. On Node.js, use
 * `createRunnelClient` from `@runnel/client/node`.
 *
 * @example
 * ```ts
 * import { RunnelClient } from '@runnel/client'
 * const client = new RunnelClient({ auth: { privateKey } }) // browser: WebSocket to the local network's trackers
 * await client.publish('/chat', { text: 'hi' })
 * ```
 * @packageDocumentation
 */
export { ClientError, KeyUnavailableError, type ClientErrorCode, type UndecryptableRange } from './errors.js'
export {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  LOCAL_DEFAULTS,
  RunnelClient,
  type RunnelClientComponents,
  type RunnelClientOptions,
} from './RunnelClient.js'
export { Stream, type StreamActions } from './Stream.js'
export { resolveAuthAddress, type AuthOptions } from './auth/resolveAuth.js'
export { requestAddress, type Eip1193Provider } from './auth/Eip1193.js'
export { createAccountSigner, createProviderSigner } from './auth/signers.js'
export { toMessageSignature } from './auth/signatures.js'
export { quietLogger, type ClientLogger, type LogMetadata } from './logger.js'
export {
  contentToJson,
  messageIdJson,
  messageToJson,
  type MessageJson,
  type MessageMetadataJson,
} from './messageJson.js'
export { checkPublishTimestamp, parseIsoDate } from './publish/timestamps.js'
export {
  type PublishLogStats,
  type ReceiptRejection,
  type RetentionDropEvent,
  type RetentionOptions,
} from './publish/PublishLog.js'
export { Subscription } from './Subscription.js'
export { DEFAULT_ACK_TIMEOUT_MS } from './types.js'
export type {
  AckLevel,
  ClientEvents,
  GapEvent,
  InvalidMessageEvent,
  PublishOptions,
  PublishedMessage,
  ReceivedMessage,
  StreamTarget,
  SubscribeOptions,
  WaitOptions,
} from './types.js'
export { MAX_LAST_COUNT, type HistoryQuery, type HistoryRef } from './storage/historyRequests.js'
export { waitUntilStorageNodeServes, type WaitForStorageNodeOptions } from './storage/storageReadiness.js'
export type { AddToStorageNodeOptions, PermissionBatchEntry, StreamUser } from './streams/chainVerbs.js'
export type { EncryptionOptions } from './encryption/EncryptionLayer.js'
export type { GroupKeySource, KeyFetch, KeySourceResult } from './encryption/keySources.js'
export { GroupKey } from './encryption/GroupKey.js'
export { SlidingWindowLimiter } from './encryption/SlidingWindowLimiter.js'
export { MemoryKeyStore, type GroupKeyStore } from './encryption/KeyStore.js'
export { KeyCustody, type KeyCustodyComponents, type KeyCustodyOptions } from './encryption/custody/KeyCustody.js'
export {
  MAX_HOLDERS,
  MAX_KEYS_PER_SHARE_REQUEST,
  keyCommitment,
  openManifest,
  openShareRequest,
  parseManifest,
  parseShareDeposit,
  parseShareReply,
  signManifest,
  signShareRequest,
  type KeyCustodyManifest,
  type ShareDeposit,
  type ShareReply,
  type ShareRequest,
  type SignedManifest,
  type SignedShareRequest,
} from './encryption/custody/records.js'
export {
  openShareAsNode,
  openShareAsRequester,
  sealShareToNode,
  sealShareToRequester,
} from './encryption/custody/sealing.js'
export * from './dataunions/index.js'
