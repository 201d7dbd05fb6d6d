import { ChainStateCache, type ChainStateCacheOptions } from './cache/ChainStateCache.js'

export type PermissionCacheOptions = ChainStateCacheOptions

/**
 * {@link ChainStateCache} under its former name, for callers that only ask about permissions. It is the same one
 * cache: prefer ChainStateCache in new code.
 *
 * @example
 * ```ts
 * const cache = new PermissionCache(registry, { ttlMs: 30_000 })
 * cache.start()
 * if (await cache.hasPermission(streamId, publisher, 'publish')) deliver(message)
 * ```
 */
export class PermissionCache extends ChainStateCache {}
