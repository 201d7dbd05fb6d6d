import {
  ContentType,
  MessageId,
  MessageType,
  encodeJsonContent,
  parseJsonContent,
  signStreamMessage,
  type StreamMessage,
} from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import type { GroupKey, RunnelClient } from '../../src/index.js'
import { sealGroupKey } from '../../src/encryption/keyExchange.js'
import { fromBase64, parseGroupKeyRequest, toBase64 } from '../../src/encryption/messages.js'

/**
 * What an attacker in the stream part can do with a key request it sees: answer
 * it first, signed with its own key, with a key of its choosing sealed to the
 * requester's public key. Only the publisher's signature should be trusted.
 */
export async function forgeKeyResponse(attacker: RunnelClient, request: StreamMessage, key: GroupKey): Promise<void> {
  const parsed = parseGroupKeyRequest(parseJsonContent(request.content))
  const privateKey = (attacker as unknown as { options: { auth: { privateKey: string } } }).options.auth.privateKey
  const signer = createNativeSigner(privateKey)
  const response = await signStreamMessage(
    {
      messageId: new MessageId(request.streamId, request.streamPartition, Date.now(), 0, signer.address, 'forged'),
      messageType: MessageType.GroupKeyResponse,
      contentType: ContentType.Json,
      content: encodeJsonContent({
        requestId: parsed.requestId,
        recipient: request.publisherId,
        keys: [{ id: parsed.groupKeyIds[0], data: toBase64(await sealGroupKey(fromBase64(parsed.publicKey), key)) }],
      }),
    },
    signer,
  )
  attacker.networkNode.broadcast(response)
}
