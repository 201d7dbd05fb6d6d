import { createServer } from 'node:net'
import { NetworkNode, TrackerServer, type Transport } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'

/** How the test networks' nodes find each other. */
export type DiscoveryMode = 'tracker' | 'dht'

/** The `network` settings that put a client or node on a test network. */
export type DiscoverySettings =
  | { readonly discovery: 'tracker'; readonly trackers: string[] }
  | { readonly discovery: 'dht'; readonly entryPoints: string[] }

/**
 * The mode the test networks run in: `RUNNEL_TEST_DISCOVERY` (`tracker`, the default, or `dht`), so one suite runs
 * in both (`npm run test:dht`).
 *
 * @throws Error for any other value: a typo must not silently run the tracker suite twice
 */
export function testDiscoveryMode(env: NodeJS.ProcessEnv = process.env): DiscoveryMode {
  const value = env.RUNNEL_TEST_DISCOVERY
  if (value === undefined || value === '' || value === 'tracker') return 'tracker'
  if (value === 'dht') return 'dht'
  throw new Error(`RUNNEL_TEST_DISCOVERY must be 'tracker' or 'dht', got ${JSON.stringify(value)}`)
}

/** What a test network's nodes discover each other through: a tracker, or a DHT entry point. */
export interface TestDiscovery {
  readonly mode: DiscoveryMode
  /** The `network` settings of every client and node on it. */
  readonly settings: DiscoverySettings
  /** The tracker's URLs in tracker mode; empty in dht mode. */
  readonly trackers: string[]
  /** The DHT entry points in dht mode; empty in tracker mode. */
  readonly entryPoints: string[]
  stop(): Promise<void>
}

/**
 * Starts what the test network's mode needs where a tracker ran before: a tracker, or a DHT entry point (a full
 * node that joins no stream part, listing itself as its entry point). Over WebSocket on a free 127.0.0.1 port, or
 * over `listen.transport` (the simulator's), whose address is known before it starts.
 */
export async function startTestDiscovery(
  mode: DiscoveryMode = testDiscoveryMode(),
  listen?: { readonly transport: Transport; readonly address: string },
): Promise<TestDiscovery> {
  const signer = createNativeSigner(generatePrivateKey())
  if (mode === 'tracker') {
    const tracker = new TrackerServer({
      transport: listen?.transport ?? new WebSocketTransport({ host: '127.0.0.1', port: 0 }),
      signer,
      verifier: nativeSignatureVerifier,
    })
    const trackers = await tracker.start()
    return { mode, settings: { discovery: 'tracker', trackers }, trackers, entryPoints: [], stop: () => tracker.stop() }
  }
  // The entry point lists its own address, so the port is chosen before it listens.
  let transport = listen?.transport
  let address = listen?.address
  if (transport === undefined || address === undefined) {
    const port = await freePort()
    transport = new WebSocketTransport({ host: '127.0.0.1', port })
    address = `ws://127.0.0.1:${port}`
  }
  const node = new NetworkNode(
    { transport, signer, verifier: nativeSignatureVerifier },
    { kind: 'full', discovery: 'dht', entryPoints: [address] },
  )
  await node.start()
  const entryPoints = [address]
  return { mode, settings: { discovery: 'dht', entryPoints }, trackers: [], entryPoints, stop: () => node.stop() }
}

/** A port free on 127.0.0.1 right now (another process could take it before it's used, rarely). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}
