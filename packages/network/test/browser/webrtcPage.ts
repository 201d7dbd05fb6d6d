// Runs inside a real browser page (see ../integration/webrtc-browser.test.ts): a full network node on the
// browser's own WebSocket (to reach the tracker) and RTCPeerConnection (to reach other nodes).
import {
  ContentType,
  MessageId,
  MessageRef,
  createPureSigner,
  encodeJsonContent,
  parseEthereumAddress,
  pureSignatureVerifier,
  signStreamMessage,
  toStreamId,
  toStreamPartId,
} from '@runnel/protocol'
import { MultiTransport, NetworkNode, WebSocketClientTransport, createBrowserWebRtcTransport } from '../../src/index.js'

/** Injected by the test as `window.__WEBRTC_PAGE_CONFIG__` before this script loads. */
export interface WebRtcPageConfig {
  readonly privateKey: string
  readonly trackers: string[]
  /** The publisher's key: the stream belongs to it. */
  readonly publisherAddress: string
}

/** What the page reports back; the test reads it with `page.evaluate`. */
export interface WebRtcPageState {
  nodeId?: string
  addresses?: readonly string[]
  neighbors: string[]
  received: string[]
  failure?: string
  publish?: (count: number) => Promise<string[]>
  stop?: () => Promise<void>
}

declare global {
  interface Window {
    __WEBRTC_PAGE_CONFIG__?: WebRtcPageConfig
    webRtcPage?: WebRtcPageState
  }
}

const state: WebRtcPageState = { neighbors: [], received: [] }
window.webRtcPage = state

async function main(config: WebRtcPageConfig): Promise<void> {
  const signer = createPureSigner(config.privateKey)
  const streamId = toStreamId(parseEthereumAddress(config.publisherAddress), '/webrtc-browser')
  const streamPartId = toStreamPartId(streamId, 0)
  const node = new NetworkNode(
    {
      transport: new MultiTransport([new WebSocketClientTransport(), createBrowserWebRtcTransport()]),
      signer,
      verifier: pureSignatureVerifier,
    },
    { trackers: config.trackers },
  )
  await node.start()
  state.nodeId = node.nodeId
  state.addresses = node.descriptor.addresses
  node.addMessageListener(streamPartId, (message) => state.received.push(message.messageId.toString()))
  state.stop = () => node.stop()
  let previous: MessageRef | undefined
  state.publish = async (count) => {
    const ids: string[] = []
    for (let index = 0; index < count; index++) {
      const ref = new MessageRef(Date.now() + index, 0)
      const message = await signStreamMessage(
        {
          messageId: new MessageId(streamId, 0, ref.timestamp, 0, signer.address, 'page'),
          prevMsgRef: previous,
          contentType: ContentType.Json,
          content: encodeJsonContent({ index }),
        },
        signer,
      )
      previous = ref
      ids.push(message.messageId.toString())
      node.broadcast(message)
    }
    return ids
  }
  await node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(30_000) })
  state.neighbors = node.getNeighbors(streamPartId)
}

const config = window.__WEBRTC_PAGE_CONFIG__
if (config === undefined) state.failure = 'no configuration'
else main(config).catch((err: unknown) => (state.failure = err instanceof Error ? err.message : String(err)))
