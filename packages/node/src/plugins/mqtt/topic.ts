import type { HistoryQuery } from '@runnel/client'
import { parsePartition, parseRequestStreamId, parseSubscribeParams } from '../../api/requests.js'
import { NodeError } from '../../errors.js'

/** What an MQTT topic names: a stream, maybe one of its partitions, and for a subscription maybe history first. */
export interface MqttTopic {
  readonly streamId: string
  /** Undefined: partition 0 for a publish, every partition for a subscription. */
  readonly partition?: number
  /** Subscriptions only: stored history to send before live messages. */
  readonly resend?: HistoryQuery
}

/** Suffix parameters a subscription topic may have; a publish topic may have only `partition`. */
const SUBSCRIBE_SUFFIX_KEYS = new Set(['partition', 'resendLast', 'resendFrom', 'resendTo'])

/**
 * Reads an MQTT topic: a stream id, optionally followed by `?partition=N`,
 * and for a subscription also `resendLast=N` or `resendFrom=…&resendTo=…`
 * (joined with `&`). With a `streamIdDomain`, the topic is the stream's path
 * below that domain (`sensors` is `<domain>/sensors`).
 *
 * @throws {@link NodeError} `BAD_REQUEST` for wildcards, `$` topics, an empty
 *   or malformed stream id and any other suffix
 * @example
 * ```ts
 * parseTopic('0xabc…/sensors?partition=2') // { streamId: '0xabc…/sensors', partition: 2 }
 * parseTopic('sensors', '0xabc…') // { streamId: '0xabc…/sensors' }
 * parseTopic('sensors?resendLast=10', '0xabc…', 'subscribe') // { streamId: '0xabc…/sensors', resend: { last: 10 } }
 * ```
 */
export function parseTopic(
  topic: string,
  streamIdDomain?: string,
  use: 'publish' | 'subscribe' = 'publish',
): MqttTopic {
  if (topic.includes('#') || topic.includes('+')) {
    // Streams are found on chain, not by matching names; a wildcard would also need one network subscription per match.
    throw new NodeError(
      'BAD_REQUEST',
      `wildcard topics (# and +) aren't supported; subscribe to each stream id: ${topic}`,
    )
  }
  if (topic.startsWith('$')) {
    // aedes routes `$SYS/…` topics to its own handlers (one closes clients by id): never let a client publish there.
    throw new NodeError('BAD_REQUEST', `topics starting with $ are reserved: ${topic}`)
  }
  const query = topic.indexOf('?')
  const path = query === -1 ? topic : topic.slice(0, query)
  if (path.length === 0) throw new NodeError('BAD_REQUEST', `the topic names no stream: ${topic}`)
  const streamId = parseRequestStreamId(
    streamIdDomain === undefined ? path : `${streamIdDomain}/${path.replace(/^\//, '')}`,
  )
  if (query === -1) return { streamId }
  const suffix = topic.slice(query + 1)
  if (use === 'publish') {
    const partition = /^partition=(.*)$/.exec(suffix)
    if (partition === null) {
      throw new NodeError('BAD_REQUEST', `the only publish topic suffix is ?partition=N, got ${topic.slice(query)}`)
    }
    return { streamId, partition: parsePartition(partition[1]!) }
  }
  const params = new URLSearchParams(suffix)
  for (const key of params.keys()) {
    if (!SUBSCRIBE_SUFFIX_KEYS.has(key)) {
      throw new NodeError(
        'BAD_REQUEST',
        `unknown topic suffix parameter ${key}: a subscription takes partition, resendLast, resendFrom and resendTo`,
      )
    }
  }
  const { partitions, resend } = parseSubscribeParams(params)
  return {
    streamId,
    ...(partitions !== undefined && { partition: partitions[0]! }),
    ...(resend !== undefined && { resend }),
  }
}
