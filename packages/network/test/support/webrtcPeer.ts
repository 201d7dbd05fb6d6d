// A network node in its own process with no WebSocket server: peers reach it over WebRTC only.
// Driven by webrtc-processes.test.ts: configuration in the CONFIG environment variable, commands on stdin
// ("publish <count>"; the end of stdin stops the node), events as JSON lines on stdout.
import { createInterface } from 'node:readline'
import type { StreamPartId } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { NetworkNode } from '../../src/index.js'
import { createNodeWebRtcTransport, WebSocketTransport } from '../../src/node/index.js'
import { MultiTransport } from '../../src/transport/MultiTransport.js'
import { ChainPublisher, newSigner, verifier } from '../helpers.js'

interface Config {
  readonly trackers: string[]
  readonly streamPartId: StreamPartId
  /** The publisher's key: it signs as the stream's owner. Absent on the subscriber. */
  readonly publisherKey?: string
  /** How many messages the subscriber waits for before it reports. */
  readonly expect?: number
}

const config = JSON.parse(process.env.CONFIG ?? '{}') as Config
const emit = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`)

const webRtc = createNodeWebRtcTransport()
const node = new NetworkNode(
  { transport: new MultiTransport([new WebSocketTransport(), webRtc]), signer: newSigner(), verifier },
  { trackers: config.trackers },
)
await node.start()
emit({ type: 'started', nodeId: node.nodeId, addresses: node.descriptor.addresses })

const received: string[] = []
if (config.expect !== undefined) {
  const expect = config.expect
  node.addMessageListener(config.streamPartId, (message) => {
    received.push(message.messageId.toString())
    if (received.length === expect) emit({ type: 'received', messageIds: received })
  })
}
await node.join(config.streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(30_000) })
emit({ type: 'joined', neighbors: node.getNeighbors(config.streamPartId) })

const publisher =
  config.publisherKey === undefined
    ? undefined
    : new ChainPublisher('/webrtc-processes', 0, undefined, { signer: createNativeSigner(config.publisherKey) })

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = line.trim().split(' ')
  if (command === 'publish' && publisher !== undefined) {
    const messageIds: string[] = []
    for (let index = 0; index < Number(argument); index++) {
      const message = await publisher.next({ index })
      messageIds.push(message.messageId.toString())
      node.broadcast(message)
    }
    emit({ type: 'published', messageIds })
  }
}
const { signalling } = node.getMetrics()
await node.stop()
// No process.exit: the process must end on its own once the node (and node-datachannel's threads) stopped.
emit({ type: 'stopped', webRtc: webRtc.metrics, signalling })
