/**
 * `@runnel/chain`: typed, browser-safe bindings to Runnel's contracts: the
 * stream registry (streams, metadata, permissions) and the storage-node
 * registry. The embedded development chain is `@runnel/dev-chain`, which apps
 * never install.
 *
 * @example
 * ```ts
 * import { RunnelRegistry, ChainStateCache, PUBLIC } from '@runnel/chain'
 * const registry = new RunnelRegistry({ publicClient, walletClient, addresses })
 * const { id } = await registry.createStream('/sensors', { partitions: 3 })
 * await registry.grantPermission(id, PUBLIC, 'subscribe')
 * ```
 * @packageDocumentation
 */
export { ChainError, type ChainErrorCode } from './errors.js'
export {
  FOREVER,
  NO_PERMISSIONS,
  PERMISSION_NAMES,
  holds,
  permissionsOf,
  type PermissionName,
  type Permissions,
} from './permissions.js'
export { MAX_METADATA_BYTES, decodeMetadata, encodeMetadata, placementOf, type StreamMetadata } from './metadata.js'
export { RunnelRegistry } from './RunnelRegistry.js'
export { RunnelIncentives } from './incentives/RunnelIncentives.js'
export type {
  Delegation,
  FlagInfo,
  FlagStatus,
  OperatorInfo,
  ReviewRequest,
  RunnelIncentivesComponents,
  SponsorshipInfo,
  SponsorshipTerms,
  StakeInfo,
} from './incentives/types.js'
export {
  MAX_PERMISSION_BATCH,
  PUBLIC,
  type ContractAddresses,
  type IncentiveAddresses,
  type MarketAddresses,
  type PermissionAssignment,
  type RegistryEvent,
  type RunnelRegistryComponents,
  type RunnelRegistryOptions,
  type StorageNodeInfo,
  type Stream,
} from './registry/types.js'
export {
  MAX_PAGE_SIZE,
  type ListedStream,
  type StreamFilter,
  type StreamPage,
  type StreamQuery,
} from './registry/streamQuery.js'
export { ChainStateCache, type ChainStateCacheOptions, type ChainStateSource } from './cache/ChainStateCache.js'
export { PermissionCache, type PermissionCacheOptions } from './PermissionCache.js'
export {
  ERC1271_MAGIC_VALUE,
  Erc1271Verifier,
  MAX_ERC1271_SIGNATURE_BYTES,
  type Erc1271VerifierOptions,
} from './erc1271/Erc1271Verifier.js'
export { DEFAULT_INCENTIVE_PARAMS, deployContracts, type Deployment, type IncentiveParams } from './deploy.js'
export { DEV_CONTRACT_ADDRESSES, DEV_INCENTIVE_ADDRESSES, DEV_MARKET_ADDRESSES } from './devAddresses.js'
export { toChainError } from './revert.js'
export {
  dataUnionAbi,
  dataUnionFactoryAbi,
  marketplaceAbi,
  operatorAbi,
  operatorFactoryAbi,
  runnelTokenAbi,
  sponsorshipsAbi,
  voteKickAbi,
  exampleErc1271WalletAbi,
  exampleErc1271WalletBytecode,
  storageNodeRegistryAbi,
  storageNodeRegistryBytecode,
  streamRegistryAbi,
  streamRegistryBytecode,
} from './generated/contracts.js'
export { DATA_UNION_WITHDRAW_TYPES, RunnelMarket, dataUnionDomain } from './market/RunnelMarket.js'
export type {
  DataUnionInfo,
  DataUnionInput,
  MemberInfo,
  MemberStatus,
  ProductInfo,
  ProductInput,
  Purchase,
  RevenueEvent,
  RunnelMarketComponents,
  SignedWithdrawal,
  SubscriptionInfo,
  TokenPrice,
} from './market/types.js'
export * from './dataunions/index.js'
