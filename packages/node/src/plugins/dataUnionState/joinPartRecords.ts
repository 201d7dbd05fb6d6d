import type { RunnelClient } from '@runnel/client'
import { isAddress } from 'viem'
import type { MemberStreamRecord } from './DataUnionStateServer.js'

interface Logger {
  warn(fields: object, message: string): void
}

/**
 * The records of a union's join/part stream, as a join server publishes them (`{ type, member, txHash }`), read
 * through the node's own client. Anything else on the stream is skipped with a warning: the records are hints, and a
 * malformed one must not stop the server from following the chain.
 *
 * @example
 * ```ts
 * for await (const record of joinPartRecords(client, '0xabc…/union/joins', logger)) console.log(record.member)
 * ```
 */
export async function* joinPartRecords(
  client: Pick<RunnelClient, 'subscribe'>,
  streamId: string | undefined,
  logger: Logger,
): AsyncGenerator<MemberStreamRecord> {
  if (streamId === undefined) return
  const subscription = await client.subscribe(streamId)
  for await (const message of subscription) {
    const record = toRecord(message.content)
    if (record === undefined) {
      logger.warn({ streamId, publisher: message.publisherId }, 'skipped a join/part record that is not one')
      continue
    }
    yield record
  }
}

function toRecord(content: unknown): MemberStreamRecord | undefined {
  if (typeof content !== 'object' || content === null) return undefined
  const { type, member, txHash } = content as Record<string, unknown>
  if ((type !== 'join' && type !== 'part') || typeof member !== 'string' || !isAddress(member)) return undefined
  if (txHash !== undefined && (typeof txHash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(txHash))) return undefined
  return { type, member: member, ...(txHash !== undefined && { txHash }) }
}
