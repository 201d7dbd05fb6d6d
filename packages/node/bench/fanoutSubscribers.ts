// A share of fanout.bench.ts's subscribers, in a worker thread of their own so
// that reading 250 sockets doesn't queue on one event loop (the bench measures
// the server, not its clients). Commands come from the bench over the worker's
// port; send times in messages are `performance.timeOrigin + performance.now()`,
// one clock for every thread of the process.
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { parentPort } from 'node:worker_threads'
import WebSocket from 'ws'

/** Where this worker's subscribers connect. */
export interface SubscriberSpec {
  readonly kind: 'websocket' | 'mqtt'
  readonly url: string
  /** MQTT topic, or the WebSocket path (with query) below `url`. */
  readonly target: string
}

export type WorkerCommand =
  | { readonly type: 'connect'; readonly subscribers: readonly SubscriberSpec[] }
  | { readonly type: 'run'; readonly run: number; readonly count: number }
  | { readonly type: 'progress' }
  | { readonly type: 'finish' }
  | { readonly type: 'close' }

export type WorkerReport =
  | { readonly type: 'connected' }
  | { readonly type: 'progress'; readonly received: number }
  | {
      readonly type: 'finished'
      readonly received: number
      readonly duplicates: number
      readonly lastReceivedAt: number
      readonly latencies: Float64Array
    }
  | { readonly type: 'closed' }

const now = (): number => performance.timeOrigin + performance.now()
const closers: (() => Promise<void>)[] = []
let runId = -1
let seen = new Uint8Array(0)
let latencies = new Float64Array(0)
let subscriberCount = 0
let received = 0
let duplicates = 0
let lastReceivedAt = 0

function receive(subscriber: number, text: string): void {
  const at = now()
  // A regular expression, not JSON.parse: the bench's own CPU is what limits it.
  const match = /^\{"run":(\d+),"i":(\d+),"at":([\d.]+)/.exec(text)
  if (match === null || Number(match[1]) !== runId) return
  const slot = Number(match[2]) * subscriberCount + subscriber
  if (seen[slot] === 1) {
    duplicates++
    return
  }
  seen[slot] = 1
  latencies[received++] = at - Number(match[3])
  lastReceivedAt = at
}

/**
 * A bare MQTT 3.1.1 subscriber on a TCP socket: CONNECT (clean session), one SUBSCRIBE at QoS 0, then each PUBLISH's
 * payload. mqtt.js costs several times the CPU per message of a ws client, which on a small machine made the clients,
 * not the broker, the limit; this costs the same for every server measured.
 */
async function connectMqtt(url: string, topic: string, onPayload: (payload: Buffer) => void): Promise<Socket> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.setNoDelay(true)
  await once(socket, 'connect')
  const clientId = Buffer.from(`bench-${Math.random().toString(36).slice(2)}`)
  const connectBody = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0x02, 0x58]), // "MQTT", level 4, clean session, keep-alive 600 s
    Buffer.from([clientId.length >> 8, clientId.length & 0xff]),
    clientId,
  ])
  const topicBytes = Buffer.from(topic)
  const subscribeBody = Buffer.concat([
    Buffer.from([0, 1, topicBytes.length >> 8, topicBytes.length & 0xff]),
    topicBytes,
    Buffer.from([0]),
  ])
  let pending: Buffer = Buffer.alloc(0)
  let subscribed: (() => void) | undefined
  const subacked = new Promise<void>((resolve) => (subscribed = resolve))
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let offset = 0
    for (;;) {
      // Fixed header: type, then the remaining length as a varint.
      let length = 0
      let multiplier = 1
      let cursor = offset + 1
      let complete = false
      while (cursor < pending.length) {
        const digit = pending[cursor++]!
        length += (digit & 0x7f) * multiplier
        multiplier *= 128
        if ((digit & 0x80) === 0) {
          complete = true
          break
        }
      }
      if (!complete || cursor + length > pending.length) break
      const type = pending[offset]! >> 4
      if (type === 3) {
        const topicLength = pending.readUInt16BE(cursor)
        onPayload(pending.subarray(cursor + 2 + topicLength, cursor + length))
      } else if (type === 9) {
        subscribed?.()
      }
      offset = cursor + length
    }
    pending = pending.subarray(offset)
  })
  socket.write(Buffer.concat([Buffer.from([0x10, connectBody.length]), connectBody]))
  socket.write(Buffer.concat([Buffer.from([0x82, subscribeBody.length]), subscribeBody]))
  await subacked
  return socket
}

async function subscribe(spec: SubscriberSpec, index: number): Promise<() => Promise<void>> {
  if (spec.kind === 'mqtt') {
    const socket = await connectMqtt(spec.url, spec.target, (payload) => receive(index, payload.toString()))
    return () => Promise.resolve(void socket.destroy())
  }
  const socket = new WebSocket(`${spec.url}${spec.target}`)
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  socket.on('message', (data: Buffer) => receive(index, data.toString()))
  return () => Promise.resolve(socket.terminate())
}

function report(message: WorkerReport, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer)
}

parentPort!.on('message', (command: WorkerCommand) => {
  void (async () => {
    switch (command.type) {
      case 'connect':
        subscriberCount = command.subscribers.length
        for (const [index, spec] of command.subscribers.entries()) closers.push(await subscribe(spec, index))
        return report({ type: 'connected' })
      case 'run':
        runId = command.run
        seen = new Uint8Array(command.count * subscriberCount)
        latencies = new Float64Array(command.count * subscriberCount)
        received = 0
        duplicates = 0
        lastReceivedAt = 0
        return
      case 'progress':
        return report({ type: 'progress', received })
      case 'finish': {
        const result = latencies.slice(0, received)
        return report({ type: 'finished', received, duplicates, lastReceivedAt, latencies: result }, [result.buffer])
      }
      case 'close':
        await Promise.all(closers.splice(0).map((close) => close()))
        return report({ type: 'closed' })
    }
  })()
})
