import { parsePartition } from '../../api/requests.js'
import { NodeError } from '../../errors.js'

/** What an MQTT topic names: a stream, and maybe one of its partitions. */
export interface MqttTopic {
  readonly streamId: string
  /** Undefined: partition 0 for a publish, every partition for a subscription. */
  readonly partition?: number
}

/**
 * Reads an MQTT topic: a stream id, optionally followed by `?partition=N`.
 * With a `streamIdDomain`, the topic is the stream's path below that domain
 * (`sensors` is `<domain>/sensors`).
 *
 * @throws {@link NodeError} `BAD_REQUEST` for wildcards, `$` topics, an empty
 *   stream id and any suffix but `?partition=N`
 * @example
 * ```ts
 * parseTopic('0xabc…/sensors?partition=2') // { streamId: '0xabc…/sensors', partition: 2 }
 * parseTopic('sensors', '0xabc…') // { streamId: '0xabc…/sensors' }
 * ```
 */
export function parseTopic(topic: string, streamIdDomain?: string): MqttTopic {
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
  const streamId = streamIdDomain === undefined ? path : `${streamIdDomain}/${path.replace(/^\//, '')}`
  if (query === -1) return { streamId }
  const suffix = /^partition=(.*)$/.exec(topic.slice(query + 1))
  if (suffix === null) {
    throw new NodeError('BAD_REQUEST', `the only topic suffix is ?partition=N, got ${topic.slice(query)}`)
  }
  return { streamId, partition: parsePartition(suffix[1]!) }
}
