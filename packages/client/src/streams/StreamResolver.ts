import type { ChainStateCache } from '@runnel/chain'
import { parsePartition, parseStreamId, partitionFromKey } from '@runnel/protocol'
import { ClientError } from '../errors.js'
import type { StreamTarget } from '../types.js'

export interface StreamResolverComponents {
  /** The client's address, lowercase: `/path` ids are its own. */
  readonly address: string
  /** Partition counts come from the client's chain-state cache (one TTL, dropped by the stream's update event). */
  readonly chainState: Pick<ChainStateCache, 'partitionCount' | 'forgetStream'>
  /** Throws `DESTROYED` once the client is gone: every call that names a stream checks it. */
  readonly assertAlive: () => void
}

/**
 * Turns what a caller names (a stream id or `/path`, a partition or partition key) into checked stream ids and
 * partitions. Partition counts are read through the chain-state cache: a stream may be updated to more partitions,
 * and its update event drops the cached count.
 */
export class StreamResolver {
  constructor(private readonly components: StreamResolverComponents) {}

  /** @throws {@link ClientError} `INVALID_ARGUMENT`, `DESTROYED`; `ProtocolError` `INVALID_STREAM_ID` */
  toStreamId(streamIdOrPath: string): string {
    this.components.assertAlive()
    if (typeof streamIdOrPath !== 'string' || streamIdOrPath.length === 0) {
      throw new ClientError('INVALID_ARGUMENT', `expected a stream id or /path, got ${String(streamIdOrPath)}`)
    }
    const id = streamIdOrPath.startsWith('/') ? `${this.components.address}${streamIdOrPath}` : streamIdOrPath
    // Checked here, so a malformed id is INVALID_STREAM_ID rather than a chain lookup's STREAM_NOT_FOUND.
    return parseStreamId(id)
  }

  /** A target's stream id and, when it names one, its partition (checked as a partition number, not against the stream). */
  toStreamPart(target: StreamTarget): { streamId: string; partition: number | undefined } {
    if (typeof target === 'string') return { streamId: this.toStreamId(target), partition: undefined }
    const partition = target.partition === undefined ? undefined : parsePartition(target.partition)
    return { streamId: this.toStreamId(target.id), partition }
  }

  /** The partitions a call covers: the one asked for (checked against the stream), or all of them. */
  async partitionsOf(streamId: string, requested: number | undefined): Promise<number[]> {
    const count = await this.partitionCount(streamId)
    return requested !== undefined
      ? [this.checkPartition(streamId, requested, count)]
      : Array.from({ length: count }, (_, i) => i)
  }

  /** Checks the stream exists (a `STREAM_NOT_FOUND` beats a puzzling `PERMISSION_DENIED`) and picks the partition. */
  async choosePartition(
    streamId: string,
    partition: number | undefined,
    key: string | number | undefined,
  ): Promise<number> {
    if (partition !== undefined && key !== undefined) {
      throw new ClientError('INVALID_ARGUMENT', 'give a partition or a partitionKey, not both')
    }
    const count = await this.partitionCount(streamId)
    if (partition !== undefined) return this.checkPartition(streamId, partition, count)
    if (key === undefined) return 0
    return partitionFromKey(key, count)
  }

  /** Forgets what is cached of a stream (this client just changed it). */
  forget(streamId: string): void {
    this.components.chainState.forgetStream(streamId)
  }

  private checkPartition(streamId: string, partition: number, count: number): number {
    const parsed = parsePartition(partition)
    if (parsed >= count) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `partition ${parsed} is out of range: ${streamId} has ${count} partition${count === 1 ? '' : 's'} (0–${count - 1})`,
      )
    }
    return parsed
  }

  private partitionCount(streamId: string): Promise<number> {
    return this.components.chainState.partitionCount(streamId)
  }
}
