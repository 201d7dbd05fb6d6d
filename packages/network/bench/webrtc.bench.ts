// WebRTC vs WebSocket throughput between two processes on loopback: one-way frames from this process to a child,
// with the sender pacing itself on bufferedAmount as PeerConnection does. Three carriers:
//   ws      WebSocketTransport (the `ws` package)
//   webrtc  WebRtcTransport on node-datachannel's RTCPeerConnection polyfill (what nodes use)
//   raw     node-datachannel's own API, no transport around it (what the polyfill costs)
// Method and results: docs/benchmarks.md.
//
//   npm run bench:webrtc -w @runnel/network
//   BENCH_RUNS=5 npm run bench:webrtc -w @runnel/network
import { fork, type ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import nodeDataChannel from 'node-datachannel'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { createNodeWebRtcTransport, WebSocketTransport } from '../src/node/index.js'
import type { Transport, TransportConnection } from '../src/transport/Transport.js'
import type { RtcSignal, Signaller } from '../src/transport/webrtc/signalling.js'

type Carrier = 'ws' | 'webrtc' | 'raw'

/** What the parent and the child say over the IPC channel. */
type Message =
  | { type: 'listen'; carrier: Carrier }
  | { type: 'address'; address: string }
  | { type: 'expect'; frames: number }
  | { type: 'ready' }
  | { type: 'received'; frames: number; bytes: number }
  | { type: 'signal'; signal: RtcSignal }
  | { type: 'raw-description'; sdp: string; kind: string }
  | { type: 'raw-candidate'; candidate: string; mid: string }

const CARRIERS = (process.env.BENCH_CARRIERS ?? 'ws,webrtc,raw').split(',') as Carrier[]
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const WORKLOADS = [
  { name: '100 B frames', frameBytes: 100, frames: 200_000 },
  { name: '64 KiB frames', frameBytes: 64 * 1024, frames: 2_000 },
]
/** The sender stops queueing above this and yields to the event loop until the buffer drains below it. */
const HIGH_WATER = 1024 * 1024

/** Signals over the IPC channel: each process has one signaller, and the other is its only peer. */
function ipcSignaller(send: (message: Message) => void): Signaller & { deliver(signal: RtcSignal): void } {
  const localNodeId = createNativeSigner(generatePrivateKey()).address
  let receiver: ((signal: RtcSignal) => void) | undefined
  return {
    localNodeId,
    send: (signal) => {
      send({ type: 'signal', signal })
      return 1
    },
    setReceiver: (next) => (receiver = next),
    deliver: (signal) => receiver?.(signal),
  }
}

function createTransport(carrier: 'ws' | 'webrtc', signaller: Signaller, listen: boolean): Transport {
  if (carrier === 'ws') return new WebSocketTransport(listen ? { host: '127.0.0.1', port: 0 } : {})
  const transport = createNodeWebRtcTransport()
  transport.attachSignaller(signaller)
  return transport
}

// ---- child: receives and counts -------------------------------------------------------------------------------

function runReceiver(): void {
  const send = (message: Message): void => void process.send!(message)
  const signaller = ipcSignaller(send)
  let expected = 0
  let frames = 0
  let bytes = 0
  const count = (length: number): void => {
    frames++
    bytes += length
    if (frames === expected) send({ type: 'received', frames, bytes })
  }
  let rawPeer: nodeDataChannel.PeerConnection | undefined
  // Held for the life of the process: node-datachannel closes a channel whose object is garbage collected.
  let rawChannel: nodeDataChannel.DataChannel | undefined
  const transports: Transport[] = []
  process.on('message', (message: Message) => {
    switch (message.type) {
      case 'listen': {
        if (message.carrier === 'raw') {
          rawPeer = new nodeDataChannel.PeerConnection('receiver', { iceServers: [] })
          rawPeer.onLocalDescription((sdp, kind) => send({ type: 'raw-description', sdp, kind }))
          rawPeer.onLocalCandidate((candidate, mid) => send({ type: 'raw-candidate', candidate, mid }))
          send({ type: 'address', address: 'raw' })
          return
        }
        const transport = createTransport(message.carrier, signaller, true)
        transports.push(transport)
        void transport
          .start((connection) => connection.setHandlers({ onFrame: (frame) => count(frame.length), onClose: () => {} }))
          .then((addresses) => send({ type: 'address', address: addresses[0]! }))
        return
      }
      case 'expect':
        expected = message.frames
        frames = 0
        bytes = 0
        send({ type: 'ready' })
        return
      case 'signal':
        signaller.deliver(message.signal)
        return
      case 'raw-description': {
        rawPeer!.setRemoteDescription(message.sdp, message.kind as nodeDataChannel.DescriptionType)
        rawChannel = rawPeer!.createDataChannel('bench', { negotiated: true, id: 0 })
        rawChannel.onMessage((data) => count(typeof data === 'string' ? data.length : data.byteLength))
        return
      }
      case 'raw-candidate':
        rawPeer!.addRemoteCandidate(message.candidate, message.mid)
        return
      default:
        return
    }
  })
  process.on('disconnect', () => {
    void Promise.all(transports.map((transport) => transport.stop())).then(() => {
      rawChannel?.close()
      rawPeer?.close()
      process.exit(0)
    })
  })
}

// ---- parent: sends and times ----------------------------------------------------------------------------------

class ChildLink {
  private readonly waiters: { type: Message['type']; resolve: (message: Message) => void }[] = []
  onMessage: (message: Message) => void = () => {}

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: Message) => {
      const index = this.waiters.findIndex((waiter) => waiter.type === message.type)
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message)
      else this.onMessage(message)
    })
  }

  send(message: Message): void {
    this.child.send(message)
  }

  next<T extends Message['type']>(type: T): Promise<Extract<Message, { type: T }>> {
    return new Promise((resolve) => this.waiters.push({ type, resolve: resolve as (message: Message) => void }))
  }
}

/** Something frames can be sent on, with its buffered amount. */
interface Sender {
  send(frame: Uint8Array): void
  readonly bufferedAmount: number
  close(): void
}

async function openSender(carrier: Carrier, link: ChildLink): Promise<{ sender: Sender; stop(): Promise<void> }> {
  link.send({ type: 'listen', carrier })
  const { address } = await link.next('address')
  if (carrier === 'raw') {
    const peer = new nodeDataChannel.PeerConnection('sender', { iceServers: [] })
    peer.onLocalDescription((sdp, kind) => link.send({ type: 'raw-description', sdp, kind }))
    peer.onLocalCandidate((candidate, mid) => link.send({ type: 'raw-candidate', candidate, mid }))
    link.onMessage = (message) => {
      if (message.type === 'raw-description')
        peer.setRemoteDescription(message.sdp, message.kind as nodeDataChannel.DescriptionType)
      if (message.type === 'raw-candidate') peer.addRemoteCandidate(message.candidate, message.mid)
    }
    const channel = peer.createDataChannel('bench', { negotiated: true, id: 0 })
    await new Promise<void>((resolve) => channel.onOpen(resolve))
    return {
      sender: {
        send: (frame) => void channel.sendMessageBinary(frame),
        get bufferedAmount() {
          return channel.bufferedAmount()
        },
        close: () => channel.close(),
      },
      stop: () => {
        peer.close()
        return Promise.resolve()
      },
    }
  }
  const signaller = ipcSignaller((message) => link.send(message))
  link.onMessage = (message) => {
    if (message.type === 'signal') signaller.deliver(message.signal)
  }
  const transport = createTransport(carrier, signaller, false)
  await transport.start(() => {})
  const connection: TransportConnection = await transport.connect(address, AbortSignal.timeout(15_000))
  connection.setHandlers({ onFrame: () => {}, onClose: () => {} })
  return { sender: connection, stop: () => transport.stop() }
}

async function measure(sender: Sender, link: ChildLink, frameBytes: number, frames: number): Promise<number> {
  // The counter resets before the first frame: frames and IPC messages take different paths.
  link.send({ type: 'expect', frames })
  await link.next('ready')
  const frame = new Uint8Array(frameBytes).fill(7)
  const received = link.next('received')
  const started = performance.now()
  let sent = 0
  while (sent < frames) {
    while (sent < frames && sender.bufferedAmount < HIGH_WATER) {
      sender.send(frame)
      sent++
    }
    if (sent < frames) await new Promise((resolve) => setImmediate(resolve))
  }
  await received
  return (performance.now() - started) / 1000
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function runSender(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--conditions=runnel-source', '--import', 'tsx'],
    env: { ...process.env, BENCH_ROLE: 'receiver' },
  })
  const link = new ChildLink(child)
  console.log(`WebRTC vs WebSocket, two processes on loopback; median of ${RUNS} runs each`)
  console.log('carrier   workload          frames/s     MB/s')
  for (const carrier of CARRIERS) {
    const opened = await openSender(carrier, link)
    const sender = opened.sender
    for (const workload of WORKLOADS) {
      // One untimed warm-up run at a tenth of the size: JIT, SCTP windows.
      await measure(sender, link, workload.frameBytes, Math.ceil(workload.frames / 10))
      const seconds: number[] = []
      for (let run = 0; run < RUNS; run++)
        seconds.push(await measure(sender, link, workload.frameBytes, workload.frames))
      const time = median(seconds)
      const framesPerSecond = workload.frames / time
      const megabytesPerSecond = (workload.frames * workload.frameBytes) / time / 1e6
      console.log(
        `${carrier.padEnd(9)} ${workload.name.padEnd(16)} ${Math.round(framesPerSecond).toLocaleString('en').padStart(9)} ${megabytesPerSecond.toFixed(1).padStart(8)}`,
      )
    }
    sender.close()
    await opened.stop()
    link.onMessage = () => {}
  }
  child.disconnect()
  await new Promise((resolve) => child.once('exit', resolve))
}

if (process.env.BENCH_ROLE === 'receiver') runReceiver()
else await runSender()
