import type { RunnelRegistry } from '@runnel/chain'
import { parsePartition, parseStreamId, partitionFromKey, systemClock, type Clock } from '@runnel/protocol'
import { ClientError } from '../errors.js'
import type { StreamTarget } from '../types.js'

export interface StreamResolverComponents {
  /** The client's address, lowercase: `/path` ids are its own. */
  readonly address: string
  readonly registry: Pick<RunnelRegistry, 'getStream'>
  readonly clock?: Clock
  /** Throws `DESTROYED` once the client is gone: every call that names a stream checks it. */
  readonly assertAlive: () => void
}

/**
 * Turns what a caller names (a stream id or `/path`, a partition or partition key) into checked stream ids and
 * partitions. Partition counts are read from the chain and cached as long as permissions are (`ttlMs`): a stream may
 * be updated to more partitions.
 */
export class StreamResolver {
  private readonly partitionCounts = new Map<string, { count: Promise<number>; expiresAt: number }>()
  private readonly clock: Clock

  constructor(
    private readonly components: StreamResolverComponents,
    private readonly ttlMs: number,
  ) {
    this.clock = components.clock ?? systemClock
  }

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

  /** Forgets a stream's cached partition count (this client just changed its metadata). */
  forget(streamId: string): void {
    this.partitionCounts.delete(streamId)
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
    const now = this.clock.now()
    let cached = this.partitionCounts.get(streamId)
    if (cached === undefined || cached.expiresAt <= now) {
      const count = this.components.registry.getStream(streamId).then(
        (stream) => stream.metadata.partitions ?? 1,
        (err: unknown) => {
          this.partitionCounts.delete(streamId)
          throw err
        },
      )
      cached = { count, expiresAt: now + this.ttlMs }
      this.partitionCounts.set(streamId, cached)
    }
    return cached.count
  }
}
