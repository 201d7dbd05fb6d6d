import { MessageFrameReader, decodeStreamMessage, type StreamMessage } from '@runnel/protocol'

/** Every message a storage node holds of a stream part, read through its history API as binary frames. */
export async function heldMessages(historyUrl: string, streamId: string, partition = 0): Promise<StreamMessage[]> {
  const url =
    `${historyUrl}/streams/${encodeURIComponent(streamId)}/data/partitions/${partition}/range` +
    `?fromTimestamp=0&toTimestamp=${Date.now() + 3_600_000}&format=binary`
  const response = await fetch(url)
  if (response.status !== 200) throw new Error(`history answered ${response.status}: ${await response.text()}`)
  const reader = new MessageFrameReader()
  const messages: StreamMessage[] = []
  for (const frame of reader.push(new Uint8Array(await response.arrayBuffer()))) {
    messages.push(decodeStreamMessage(frame))
  }
  reader.end()
  return messages
}

/** The message ids, as strings, to compare two nodes' holdings at a glance. */
export function idsOf(messages: readonly StreamMessage[]): string[] {
  return messages.map((message) => message.messageId.toString())
}

/**
 * The links of each publisher chain that don't hold: a message whose
 * `prevMsgRef` isn't the ref of the chain's message before it. Empty for a
 * history without gaps (a chain's first message may have any previous ref).
 */
export function chainBreaks(messages: readonly StreamMessage[]): string[] {
  const last = new Map<string, StreamMessage>()
  const breaks: string[] = []
  for (const message of messages) {
    const key = `${message.publisherId}/${message.messageChainId}`
    const before = last.get(key)
    if (before !== undefined && message.prevMsgRef?.compareTo(before.getMessageRef()) !== 0) {
      breaks.push(`${message.messageId.toString()} follows ${before.messageId.toString()}`)
    }
    last.set(key, message)
  }
  return breaks
}
