import type { RunnelRegistry } from '@runnel/chain'

/**
 * The history URLs of the other storage nodes of a stream (this node left
 * out), read from the chain and cached for `ttlMs`. An empty or failed answer
 * isn't cached: a node assigned a moment ago is found at the next look.
 */
export class RepairPeers {
  readonly #cache = new Map<string, { urls: Promise<string[]>; expiresAt: number }>()

  constructor(
    private readonly registry: Pick<RunnelRegistry, 'getStorageNodes' | 'getStorageNode'>,
    /** This node's address: it never asks itself. */
    private readonly self: string,
    private readonly ttlMs = 30_000,
  ) {}

  urls(streamId: string): Promise<string[]> {
    const now = Date.now()
    const cached = this.#cache.get(streamId)
    if (cached !== undefined && cached.expiresAt > now) return cached.urls
    const self = this.self.toLowerCase()
    const urls = (async () => {
      const nodes = (await this.registry.getStorageNodes(streamId)).filter((node) => node.toLowerCase() !== self)
      const found = await Promise.all(
        nodes.map(async (node) => {
          const metadata = await this.registry.getStorageNode(node).catch(() => undefined)
          return typeof metadata?.http === 'string' && /^https?:\/\//.test(metadata.http) ? metadata.http : undefined
        }),
      )
      const result = found.filter((url): url is string => url !== undefined)
      if (result.length === 0) this.#cache.delete(streamId)
      return result
    })()
    urls.catch(() => this.#cache.delete(streamId))
    this.#cache.set(streamId, { urls, expiresAt: now + this.ttlMs })
    return urls
  }
}
