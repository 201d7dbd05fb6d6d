// Runs inside a real browser page (see ../integration/browser.test.ts): the client's browser-safe entry point,
// as a light node over the browser's own WebSocket, with JSON-RPC over HTTP (same origin, proxied to the dev chain).
import { RunnelClient } from '../../src/index.js'

/** Injected by the test as `window.__RUNNEL_CONFIG__` before this script loads. */
export interface PageConfig {
  readonly privateKey: string
  /** The network's discovery settings: its tracker, or its DHT entry point. */
  readonly network:
    | { readonly discovery: 'tracker'; readonly trackers: string[] }
    | { readonly discovery: 'dht'; readonly entryPoints: string[] }
  readonly rpcUrl: string
  readonly contracts: { readonly streamRegistry: `0x${string}`; readonly storageNodeRegistry: `0x${string}` }
  /** Decimal string (JSON has no bigint). */
  readonly fromBlock: string
  readonly streamId: string
  readonly count: number
}

/** What the page reports back; the test reads it with `page.evaluate`. */
export interface PageState {
  address?: string
  subscribed: boolean
  /** Messages this page's subscription delivered, in delivery order. */
  received: { content: unknown; publisherId: string; partition: number }[]
  published: number
  /** Set once every message is published (or on failure, with `failure`). */
  done: boolean
  failure?: string
  /** Client `error`, `gap` and `invalidMessage` events, described. */
  problems: string[]
  stop?: () => Promise<void>
}

declare global {
  interface Window {
    __RUNNEL_CONFIG__?: PageConfig
    runnelPage?: PageState
  }
}

const state: PageState = { subscribed: false, received: [], published: 0, done: false, problems: [] }
window.runnelPage = state

async function run(config: PageConfig): Promise<void> {
  const client = new RunnelClient({
    auth: { privateKey: config.privateKey },
    network: { ...config.network, kind: 'light' },
    chain: { rpcUrl: config.rpcUrl, contracts: config.contracts, fromBlock: BigInt(config.fromBlock) },
  })
  state.address = client.address
  state.stop = () => client.destroy()
  client.on('error', (error) => state.problems.push(`error: ${error.message}`))
  client.on('gap', (gap) => state.problems.push(`gap: ${JSON.stringify(gap)}`))
  client.on('invalidMessage', (event) => state.problems.push(`invalidMessage: ${event.reason} ${event.publisherId}`))
  await client.subscribe(config.streamId, (message) =>
    state.received.push({ content: message.content, publisherId: message.publisherId, partition: message.partition }),
  )
  state.subscribed = true
  for (let i = 0; i < config.count; i++) {
    await client.publish(config.streamId, { from: 'browser', i })
    state.published++
  }
}

const config = window.__RUNNEL_CONFIG__
if (config === undefined) {
  state.failure = 'window.__RUNNEL_CONFIG__ is missing'
  state.done = true
} else {
  run(config).then(
    () => {
      state.done = true
    },
    (err: unknown) => {
      state.failure = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err)
      state.done = true
    },
  )
}
