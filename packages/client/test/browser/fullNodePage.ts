// Runs inside a real browser page (see ../integration/browserFullNode.test.ts): the client's browser-safe entry point
// as a FULL node in dht mode: it joins the DHT through the Node.js entry point over the browser's WebSocket, and its
// neighbours reach it over the browser's own WebRTC. The test drives it step by step through `window.runnelFullNode`.
import { RunnelClient } from '../../src/index.js'

/** What the test hands `start`. */
export interface FullNodeConfig {
  readonly privateKey: string
  readonly entryPoints: string[]
  readonly rpcUrl: string
  readonly contracts: { readonly streamRegistry: `0x${string}`; readonly storageNodeRegistry: `0x${string}` }
  /** Decimal string (JSON has no bigint). */
  readonly fromBlock: string
}

/** A message the page's subscription delivered. */
export interface PageMessage {
  readonly content: unknown
  readonly publisherId: string
}

/** The page's controls; every call is a `page.evaluate`. */
export interface FullNodeControls {
  /** Starts the client; resolves with its node id and the addresses it announces. */
  start(config: FullNodeConfig): Promise<{ nodeId: string; kind: string; addresses: string[] }>
  subscribe(streamId: string): Promise<void>
  publish(streamId: string, content: unknown): Promise<void>
  /** The node's neighbours in the stream's partition 0. */
  neighbors(streamId: string): string[]
  received(): PageMessage[]
  /** Client `error`, `gap` and `invalidMessage` events, described. */
  problems(): string[]
  stop(): Promise<void>
}

declare global {
  interface Window {
    runnelFullNode?: FullNodeControls
  }
}

let client: RunnelClient | undefined
const received: PageMessage[] = []
const problems: string[] = []

function started(): RunnelClient {
  if (client === undefined) throw new Error('start() first')
  return client
}

window.runnelFullNode = {
  async start(config) {
    // No transport given: a browser full node gets the default one, WebSocket (dial-only) plus the page's WebRTC.
    client = new RunnelClient({
      auth: { privateKey: config.privateKey },
      network: { kind: 'full', discovery: 'dht', entryPoints: config.entryPoints },
      chain: { rpcUrl: config.rpcUrl, contracts: config.contracts, fromBlock: BigInt(config.fromBlock) },
    })
    client.on('error', (error) => problems.push(`error: ${error.message}`))
    client.on('gap', (gap) => problems.push(`gap: ${JSON.stringify(gap)}`))
    client.on('invalidMessage', (event) => problems.push(`invalidMessage: ${event.reason} ${event.publisherId}`))
    await client.connect()
    const node = client.networkNode
    return { nodeId: node.nodeId, kind: node.kind, addresses: [...node.descriptor.addresses] }
  },
  async subscribe(streamId) {
    await started().subscribe(streamId, (message) =>
      received.push({ content: message.content, publisherId: message.publisherId }),
    )
  },
  async publish(streamId, content) {
    await started().publish(streamId, content)
  },
  neighbors(streamId) {
    return started().networkNode.getNeighbors(
      `${streamId}#0` as Parameters<RunnelClient['networkNode']['getNeighbors']>[0],
    )
  },
  received: () => received,
  problems: () => problems,
  async stop() {
    await client?.destroy()
  },
}
