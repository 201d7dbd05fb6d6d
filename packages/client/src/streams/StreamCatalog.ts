import {
  ChainError,
  PUBLIC,
  type Permissions,
  type RunnelRegistry,
  type Stream as StreamRecord,
  type StreamMetadata,
} from '@runnel/chain'
import type { Address } from 'viem'
import { raceAbort, throwIfAborted } from '../abort.js'
import type { StreamResolver } from './StreamResolver.js'

export interface StreamCatalogComponents {
  readonly registry: Pick<
    RunnelRegistry,
    'createStream' | 'getStream' | 'updateStream' | 'deleteStream' | 'setPermissions'
  >
  readonly streams: Pick<StreamResolver, 'toStreamId' | 'forget'>
  /** Throws `DESTROYED` once the client is gone. */
  readonly assertAlive: () => void
}

/**
 * The stream records on chain as the client's verbs reach them: ids resolved, the partition cache forgotten on a
 * change, and each wait for a transaction given up on its signal (`ABORTED`; a transaction already sent may still be
 * mined: viem can't call it back).
 *
 * @example
 * ```ts
 * const record = await catalog.create('/sensors', { partitions: 3 }, AbortSignal.timeout(30_000))
 * ```
 */
export class StreamCatalog {
  constructor(private readonly components: StreamCatalogComponents) {}

  /** Creates `<address>/<path>` (or an id of the client's own). */
  create(pathOrId: string, metadata: StreamMetadata, signal?: AbortSignal): Promise<StreamRecord> {
    this.components.assertAlive()
    throwIfAborted(signal, 'createStream')
    return raceAbort(this.components.registry.createStream(pathOrId, metadata), signal, 'createStream')
  }

  /** @throws ChainError `STREAM_NOT_FOUND` */
  get(streamIdOrPath: string, signal?: AbortSignal): Promise<StreamRecord> {
    const streamId = this.components.streams.toStreamId(streamIdOrPath)
    return raceAbort(this.components.registry.getStream(streamId), signal, 'getStream')
  }

  async getOrCreate(pathOrId: string, metadata: StreamMetadata, signal?: AbortSignal): Promise<StreamRecord> {
    const streamId = this.components.streams.toStreamId(pathOrId)
    try {
      return await this.get(streamId, signal)
    } catch (err) {
      if (err instanceof ChainError && err.code === 'STREAM_NOT_FOUND') return this.create(streamId, metadata, signal)
      throw err
    }
  }

  update(streamIdOrPath: string, metadata: StreamMetadata, signal?: AbortSignal): Promise<StreamRecord> {
    const streamId = this.components.streams.toStreamId(streamIdOrPath)
    this.components.streams.forget(streamId)
    return raceAbort(this.components.registry.updateStream(streamId, metadata), signal, 'updateStream')
  }

  delete(streamIdOrPath: string, signal?: AbortSignal): Promise<void> {
    const streamId = this.components.streams.toStreamId(streamIdOrPath)
    return raceAbort(this.components.registry.deleteStream(streamId), signal, 'deleteStream')
  }

  /** Sets a user's (or, with `'public'`, everyone's) permissions in one transaction. */
  setPermissions(
    streamIdOrPath: string,
    user: Address | 'public',
    permissions: Permissions,
    signal?: AbortSignal,
  ): Promise<void> {
    const streamId = this.components.streams.toStreamId(streamIdOrPath)
    const write = this.components.registry.setPermissions(streamId, user === 'public' ? PUBLIC : user, permissions)
    return raceAbort(write, signal, 'setPermissions')
  }
}
