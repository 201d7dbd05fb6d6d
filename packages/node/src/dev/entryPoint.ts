import { createServer } from 'node:net'
import { NetworkNode, type Logger } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'

export interface EntryPointOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port, chosen before the node starts (its own address must be known up front). */
  readonly port?: number
  readonly logger?: Logger
}

/** A running DHT entry point: a full node on a known address that new nodes join the DHT through. */
export interface EntryPoint {
  /** Its WebSocket URL, the `entryPoints` entry of every other node. */
  readonly url: string
  readonly node: NetworkNode
  stop(): Promise<void>
}

/**
 * Starts a DHT entry point where a tracker would run: a full node with a fresh key that joins no stream part, only
 * the DHT, and lists itself as its entry point (the DHT skips its own address) so it runs alone until others join.
 * What `runnel dev --discovery dht` starts on `DEFAULT_PORTS.entryPoint`; tests start one on a free port.
 *
 * @example
 * ```ts
 * const entryPoint = await startEntryPoint({ port: 30301 })
 * const client = createRunnelClient({ network: { discovery: 'dht', entryPoints: [entryPoint.url] } })
 * ```
 */
export async function startEntryPoint(options: EntryPointOptions = {}): Promise<EntryPoint> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port === undefined || options.port === 0 ? await freePort(host) : options.port
  const url = `ws://${host.includes(':') ? `[${host}]` : host}:${port}`
  const node = new NetworkNode(
    {
      transport: new WebSocketTransport({ host, port }),
      signer: createNativeSigner(generatePrivateKey()),
      verifier: nativeSignatureVerifier,
      ...(options.logger !== undefined && { logger: options.logger }),
    },
    { kind: 'full', discovery: 'dht', entryPoints: [url] },
  )
  await node.start()
  return { url, node, stop: () => node.stop() }
}

/** A port free right now on `host` (the OS picks it); another process could take it before it is used, rarely. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}
