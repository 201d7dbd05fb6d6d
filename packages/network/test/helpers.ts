import {
  ContentType,
  MessageId,
  MessageRef,
  encodeJsonContent,
  generatePrivateKey,
  signStreamMessage,
  toStreamId,
  toStreamPartId,
  systemClock,
  type MessageSigner,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { createServer, type AddressInfo } from 'node:net'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { ConnectionManager } from '../src/connection/ConnectionManager.js'
import type { PeerConnection } from '../src/connection/PeerConnection.js'
import { DhtNode, type DhtNodeOptions } from '../src/dht/DhtNode.js'
import type { ControlMessage } from '../src/generated/runnel/network/v1/network_pb.js'
import {
  NETWORK_PROTOCOL_VERSION,
  NetworkNode,
  TrackerServer,
  silentLogger,
  type NetworkNodeOptions,
  type LogFields,
  type LogLevel,
  type Logger,
  type NodeId,
  type NodeKind,
} from '../src/index.js'
import { WebSocketTransport } from '../src/node/index.js'
import type { Transport } from '../src/transport/Transport.js'

export const verifier = nativeSignatureVerifier

export function newSigner(): MessageSigner {
  return createNativeSigner(generatePrivateKey())
}

/** What a {@link ChainPublisher} may be given instead of its random defaults (seeded runs give all three). */
export interface ChainPublisherOptions {
  signer?: MessageSigner
  chainId?: string
  /** Where timestamps come from. Default `Date.now`. */
  now?: () => number
}

/** Signs a publisher's messages as one chain, each referring to the previous. */
export class ChainPublisher {
  readonly signer: MessageSigner
  private previous: MessageRef | undefined
  private sequence = 0
  private readonly chainId: string
  private readonly now: () => number
  readonly streamPartId: StreamPartId
  private readonly streamId: ReturnType<typeof toStreamId>

  constructor(path = '/test', partition = 0, owner?: MessageSigner, options: ChainPublisherOptions = {}) {
    this.signer = options.signer ?? newSigner()
    this.streamId = toStreamId((owner ?? this.signer).address, path)
    this.streamPartId = toStreamPartId(this.streamId, partition)
    this.chainId = options.chainId ?? `chain-${Math.random().toString(36).slice(2, 10)}`
    this.now = options.now ?? Date.now
  }

  next(content: unknown = { n: this.sequence }): Promise<StreamMessage> {
    const timestamp = this.now()
    const previous = this.previous
    const ref =
      previous !== undefined && timestamp <= previous.timestamp
        ? new MessageRef(previous.timestamp, previous.sequenceNumber + 1)
        : new MessageRef(timestamp, 0)
    // Claim the ref before awaiting, so concurrent calls still build one chain.
    this.sequence++
    this.previous = ref
    return signStreamMessage(
      {
        messageId: new MessageId(
          this.streamId,
          0,
          ref.timestamp,
          ref.sequenceNumber,
          this.signer.address,
          this.chainId,
        ),
        prevMsgRef: previous,
        contentType: ContentType.Json,
        content: encodeJsonContent(content),
      },
      this.signer,
    )
  }
}

export { waitFor } from './compliance/transportCompliance.js'

export async function startWebSocketTracker(
  options: ConstructorParameters<typeof TrackerServer>[1] = {},
  components: Partial<ConstructorParameters<typeof TrackerServer>[0]> = {},
): Promise<{
  tracker: TrackerServer
  address: string
}> {
  const tracker = new TrackerServer(
    { transport: new WebSocketTransport({ port: 0 }), signer: newSigner(), verifier, ...components },
    options,
  )
  const [address] = await tracker.start()
  return { tracker, address: address! }
}

/** How a test's nodes find each other: the two discovery modes, for tests about overlays rather than trackers. */
export const DISCOVERY_MODES = ['tracker', 'dht'] as const
export type TestDiscoveryMode = (typeof DISCOVERY_MODES)[number]

/** A started tracker (tracker mode) or entry point (dht mode), and the options that make a node use it. */
export interface TestDiscovery {
  readonly mode: TestDiscoveryMode
  readonly options: Pick<NetworkNodeOptions, 'discovery' | 'trackers' | 'entryPoints'>
  /** Tracker mode only. */
  readonly tracker: TrackerServer | undefined
  /** Dht mode only: a full node in no stream part, listing its own address as the entry point. */
  readonly entryPoint: NetworkNode | undefined
  stop(): Promise<void>
}

/** A port nothing listens on now (the OS picks it); for a node that must know its address before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Starts what nodes of a test discover each other through: a WebSocket tracker, or an entry-point node of the DHT. */
export async function startDiscovery(
  mode: TestDiscoveryMode,
  trackerComponents: Partial<ConstructorParameters<typeof TrackerServer>[0]> = {},
): Promise<TestDiscovery> {
  if (mode === 'tracker') {
    const { tracker, address } = await startWebSocketTracker({}, trackerComponents)
    return { mode, options: { trackers: [address] }, tracker, entryPoint: undefined, stop: () => tracker.stop() }
  }
  const port = await freePort()
  const entryPoints = [`ws://127.0.0.1:${port}`]
  const entryPoint = new NetworkNode(
    { transport: new WebSocketTransport({ port }), signer: newSigner(), verifier },
    { discovery: 'dht', entryPoints },
  )
  await entryPoint.start()
  return {
    mode,
    options: { discovery: 'dht', entryPoints },
    tracker: undefined,
    entryPoint,
    stop: () => entryPoint.stop(),
  }
}

/** Starts a node that uses the given trackers (a list) or test discovery. */
export async function startWebSocketNode(
  discovery: string[] | TestDiscovery,
  options: Partial<NetworkNodeOptions> = {},
  transport: Transport = new WebSocketTransport({ port: options.kind === 'light' ? undefined : 0 }),
): Promise<NetworkNode> {
  const found = Array.isArray(discovery) ? { trackers: discovery } : discovery.options
  const node = new NetworkNode({ transport, signer: newSigner(), verifier }, { ...found, ...options })
  await node.start()
  return node
}

/**
 * A bare connection manager that claims `claimedId` and `kind` in its
 * handshake while signing with `signer`: for tests that play a misbehaving peer.
 */
export async function startRawPeer(
  signer: MessageSigner,
  kind: NodeKind = 'full',
  claimedId: NodeId = signer.address,
  options: {
    /** Called with every control message the peer receives, and the connection it came on (to answer on). */
    readonly onControl?: (message: ControlMessage, peer: PeerConnection) => void
    /** What the handshake advertises instead of the listening addresses, e.g. only `webrtc:<id>`. */
    readonly addresses?: readonly string[]
    /** Listen on a free port of 127.0.0.1 (others can dial it); default dial-only. */
    readonly listen?: boolean
  } = {},
): Promise<ConnectionManager> {
  const connections = new ConnectionManager({
    transport: new WebSocketTransport(options.listen === true ? { port: 0 } : {}),
    signer,
    verifier,
    clock: systemClock,
    events: {
      onPeerReady: () => undefined,
      onControl: (peer, message) => options.onControl?.(message, peer),
      onData: () => undefined,
      onPeerClosed: () => undefined,
    },
  })
  await connections.start((addresses) => ({
    nodeId: claimedId,
    kind,
    addresses: options.addresses ?? addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }))
  return connections
}

/** A logger that keeps what it is told, for tests that check what a component reports. */
export function recordingLogger(): {
  logger: Logger
  entries: { level: LogLevel; message: string; fields: LogFields | undefined }[]
} {
  const entries: { level: LogLevel; message: string; fields: LogFields | undefined }[] = []
  const at =
    (level: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      entries.push({ level, message, fields })
    }
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries }
}

/** A bare DHT node over real WebSockets: a connection manager wired to a {@link DhtNode}, both started. */
export interface TestDhtNode {
  readonly nodeId: NodeId
  readonly connections: ConnectionManager
  readonly dht: DhtNode
}

/**
 * Starts a {@link TestDhtNode} joining through `entryPoints` (a light one listens nowhere). `noteRoute` is the DHT's
 * signalling-route callback; `maxConnections` the connection manager's cap (default unlimited).
 */
export async function startTestDhtNode(
  entryPoints: string[],
  settings: {
    readonly options?: Partial<DhtNodeOptions>
    readonly logger?: Logger
    readonly kind?: 'full' | 'light'
    readonly maxConnections?: number
    readonly noteRoute?: (targetId: NodeId, viaPeerId: NodeId) => void
  } = {},
): Promise<TestDhtNode> {
  const { options = {}, logger = silentLogger, kind = 'full', maxConnections, noteRoute } = settings
  const signer = newSigner()
  const connections: ConnectionManager = new ConnectionManager(
    {
      transport: new WebSocketTransport({ port: kind === 'light' ? undefined : 0 }),
      signer,
      verifier,
      clock: systemClock,
      events: {
        onPeerReady: (peer) => dht.handlePeerReady(peer),
        onControl: (peer, message) => void dht.handleControl(peer, message),
        onData: () => undefined,
        onPeerClosed: (peer) => dht.handlePeerClosed(peer.peerId),
      },
    },
    undefined,
    { maxConnections },
  )
  const dht = new DhtNode(
    {
      connections,
      signer,
      verifier,
      clock: systemClock,
      logger,
      localDescriptor: () => connections.localDescriptor,
      noteRoute,
    },
    { entryPoints, requestTimeoutMs: 3_000, ...options },
  )
  await connections.start((addresses) => ({
    nodeId: signer.address,
    kind,
    addresses: kind === 'light' ? [] : addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }))
  await dht.start()
  return { nodeId: signer.address, connections, dht }
}
