import {
  ContentType,
  MessageId,
  encodeJsonContent,
  generatePrivateKey,
  parseJsonContent,
  signStreamMessage,
  toStreamId,
  toStreamPartId,
  type StreamMessage,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { NetworkNode, TrackerServer } from '../src/index.js'
import { WebSocketTransport } from '../src/node/index.js'

const verifier = nativeSignatureVerifier

// A tracker introduces nodes to each other; it carries no messages.
const tracker = new TrackerServer({
  transport: new WebSocketTransport({ host: '127.0.0.1', port: 0 }),
  signer: createNativeSigner(generatePrivateKey()),
  verifier,
})
const trackers = await tracker.start() // e.g. ['ws://127.0.0.1:41234']

// Two full nodes, each with its own key (the key's address is the node id).
async function startNode(): Promise<NetworkNode> {
  const node = new NetworkNode(
    {
      transport: new WebSocketTransport({ host: '127.0.0.1', port: 0 }),
      signer: createNativeSigner(generatePrivateKey()),
      verifier,
    },
    { trackers },
  )
  await node.start()
  return node
}
const subscriber = await startNode()
const sender = await startNode()

// The publisher's key signs messages; it need not be a node's key.
const publisher = createNativeSigner(generatePrivateKey())
const streamId = toStreamId(publisher.address, '/sensors/temperature')
const streamPartId = toStreamPartId(streamId, 0)

await Promise.all(
  [subscriber, sender].map((node) => node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(10_000) })),
)

const received = new Promise<StreamMessage>((resolve) => {
  subscriber.addMessageListener(streamPartId, (message, { senderId }) => {
    console.log('received', parseJsonContent(message.content), 'from neighbour', senderId)
    resolve(message)
  })
})

const message = await signStreamMessage(
  {
    messageId: new MessageId(streamId, 0, Date.now(), 0, publisher.address, 'chain-1'),
    contentType: ContentType.Json,
    content: encodeJsonContent({ celsius: 21.5 }),
  },
  publisher,
)
sender.broadcast(message)
await received

await subscriber.stop()
await sender.stop()
await tracker.stop()
