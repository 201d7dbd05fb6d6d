import type { RunnelRegistry } from '@runnel/chain'
import { systemClock, type Clock } from '@runnel/protocol'

/**
 * The history URLs of each stream's storage nodes, read from the chain and
 * cached for `ttlMs`. An empty or failed answer isn't cached: a node assigned
 * a moment ago is found at the next look.
 */
export class StorageNodeDirectory {
  private readonly cache = new Map<string, { urls: Promise<string[]>; expiresAt: number }>()
  private readonly addressCache = new Map<string, { addresses: Promise<string[]>; expiresAt: number }>()
  private readonly settled = new Map<string, string[]>()

  constructor(
    private readonly registry: Pick<RunnelRegistry, 'getStorageNodes' | 'getStorageNode'>,
    private readonly ttlMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  urls(streamId: string): Promise<string[]> {
    const now = this.clock.now()
    const cached = this.cache.get(streamId)
    if (cached !== undefined && cached.expiresAt > now) return cached.urls
    const urls = (async () => {
      const nodes = await this.registry.getStorageNodes(streamId)
      const found = await Promise.all(
        nodes.map(async (node) => {
          const metadata = await this.registry.getStorageNode(node).catch(() => undefined)
          return typeof metadata?.http === 'string' ? metadata.http : undefined
        }),
      )
      const result = found.filter((url): url is string => url !== undefined)
      if (result.length === 0) this.cache.delete(streamId)
      return result
    })()
    urls.catch(() => this.cache.delete(streamId))
    this.cache.set(streamId, { urls, expiresAt: now + this.ttlMs })
    return urls
  }

  /** The addresses (lowercase) of a stream's storage nodes, cached like the URLs; `fresh` reads the chain anew. */
  addresses(streamId: string, fresh = false): Promise<string[]> {
    const now = this.clock.now()
    const cached = this.addressCache.get(streamId)
    if (!fresh && cached !== undefined && cached.expiresAt > now) return cached.addresses
    const addresses = this.registry.getStorageNodes(streamId).then((nodes) => {
      const lower = nodes.map((node) => node.toLowerCase())
      this.settled.set(streamId, lower)
      return lower
    })
    addresses.catch(() => this.addressCache.delete(streamId))
    this.addressCache.set(streamId, { addresses, expiresAt: now + this.ttlMs })
    return addresses
  }

  /** The last addresses read for a stream, without waiting; undefined before the first answer. */
  knownAddresses(streamId: string): readonly string[] | undefined {
    return this.settled.get(streamId)
  }

  /** Forgets a stream's nodes, after this client changed them. */
  forget(streamId: string): void {
    this.cache.delete(streamId)
    this.addressCache.delete(streamId)
  }
}
