import { zeroAddress, type Address } from 'viem'
import { ChainError } from './errors.js'
import { NO_PERMISSIONS, holds, type PermissionName, type Permissions } from './permissions.js'
import type { RegistryEvent, RunnelRegistry } from './RunnelRegistry.js'

export interface PermissionCacheOptions {
  /** How long a looked-up answer is trusted without an invalidating event. Default 30 s. */
  readonly ttlMs?: number
  /** Most (stream, user) entries kept; the oldest go first. Default 100,000. */
  readonly maxEntries?: number
}

interface Entry {
  readonly permissions: Promise<Permissions>
  readonly expiresAt: number
}

/**
 * Answers "may this user publish/subscribe/… on this stream now?" from
 * memory, so validating a message never costs a chain call once its
 * publisher is known. Entries expire after a short TTL and are dropped as soon
 * as a contract event says they changed.
 *
 * @example
 * ```ts
 * const cache = new PermissionCache(registry, { ttlMs: 30_000 })
 * cache.start()
 * if (await cache.hasPermission(streamId, publisher, 'publish')) deliver(message)
 * ```
 */
export class PermissionCache {
  private readonly entries = new Map<string, Entry>()
  private readonly ttlMs: number
  private readonly maxEntries: number
  private unwatch: (() => void) | undefined
  /** Look-ups answered from memory, and those that went to the chain. */
  readonly stats = { hits: 0, misses: 0, invalidations: 0 }

  constructor(
    private readonly registry: RunnelRegistry,
    options: PermissionCacheOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.ttlMs = options.ttlMs ?? 30_000
    this.maxEntries = options.maxEntries ?? 100_000
  }

  /** Starts following contract events so changes invalidate entries at once. */
  start(): void {
    // If watching fails, events may have been missed: forget everything rather than trust it until the TTL.
    this.unwatch ??= this.registry.watchEvents(
      (event) => this.invalidate(event),
      () => this.entries.clear(),
    )
  }

  stop(): void {
    this.unwatch?.()
    this.unwatch = undefined
    this.entries.clear()
  }

  /**
   * Same answer as the contract's hasPermission, from memory when possible.
   * With `atMs`, whether publish/subscribe were held at that time (e.g. a
   * message's timestamp) as far as the current grants say.
   */
  async hasPermission(streamId: string, user: Address, permission: PermissionName, atMs?: number): Promise<boolean> {
    const nowSeconds = BigInt(Math.floor((atMs ?? this.now()) / 1000))
    if (holds(await this.lookup(streamId, user), permission, nowSeconds)) return true
    if (permission !== 'publish' && permission !== 'subscribe') return false
    return holds(await this.lookup(streamId, zeroAddress), permission, nowSeconds)
  }

  /** Forgets what an event changed. */
  invalidate(event: RegistryEvent): void {
    if (event.type === 'permissionUpdated') {
      if (this.entries.delete(key(event.streamId, event.user))) this.stats.invalidations++
    } else if (event.type === 'streamDeleted' || event.type === 'streamCreated') {
      const prefix = `${event.streamId}\n`
      for (const entryKey of this.entries.keys()) {
        if (entryKey.startsWith(prefix)) {
          this.entries.delete(entryKey)
          this.stats.invalidations++
        }
      }
    }
  }

  private lookup(streamId: string, user: Address): Promise<Permissions> {
    const entryKey = key(streamId, user)
    const entry = this.entries.get(entryKey)
    if (entry !== undefined && entry.expiresAt > this.now()) {
      this.stats.hits++
      return entry.permissions
    }
    this.stats.misses++
    const permissions = this.registry.getUserPermissions(streamId, user).catch((err: unknown) => {
      if (err instanceof ChainError && err.code === 'STREAM_NOT_FOUND') return NO_PERMISSIONS
      // Don't cache failures: the next look-up asks again.
      if (this.entries.get(entryKey)?.permissions === permissions) this.entries.delete(entryKey)
      throw err
    })
    if (!this.entries.has(entryKey) && this.entries.size >= this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!)
    }
    this.entries.set(entryKey, { permissions, expiresAt: this.now() + this.ttlMs })
    return permissions
  }
}

function key(streamId: string, user: Address): string {
  return `${streamId}\n${user.toLowerCase()}`
}
