import { errorMetadata, type ClientLogger } from '../logger.js'
import { REFRESH_INTERVAL_MS } from './retention.js'

/**
 * Whether an address is a storage node of a stream, for the receipts and catch-up requests the publish log takes:
 * from the cached list, re-read from the chain for an address it doesn't name (assigned a moment ago?), but at most
 * every few seconds per stream, not for every message a stranger sends.
 */
export class StorageNodeCheck {
  private readonly refreshedAt = new Map<string, number>()

  constructor(
    /** The stream's storage nodes (lowercase addresses), cached; `fresh` skips the cache. */
    private readonly storageNodes: (streamId: string, fresh?: boolean) => Promise<readonly string[]>,
    private readonly now: () => number,
    private readonly logger: ClientLogger,
  ) {}

  /** False too when the chain can't be read: the sender's receipt or request comes again. */
  async isStorageNode(streamId: string, address: string): Promise<boolean> {
    try {
      if ((await this.storageNodes(streamId)).includes(address)) return true
      const now = this.now()
      if (now - (this.refreshedAt.get(streamId) ?? -Infinity) < REFRESH_INTERVAL_MS) return false
      this.refreshedAt.set(streamId, now)
      return (await this.storageNodes(streamId, true)).includes(address)
    } catch (err) {
      this.logger.debug('storage nodes of a stream not read; a receipt or catch-up request is not taken', {
        streamId,
        ...errorMetadata(err),
      })
      return false
    }
  }
}
