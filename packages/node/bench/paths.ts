import { Agent, request } from 'node:http'
import { Socket } from 'node:net'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket from 'ws'

/** The sending side of a path. */
export interface Publisher {
  /**
   * Sends one message. Resolves once the API has taken it: written to the
   * socket (MQTT QoS 0, WebSocket), acknowledged (MQTT QoS 1: PUBACK), or
   * answered (HTTP: the response).
   */
  send(text: string): Promise<void>
  close(): Promise<void>
}

export interface Subscriber {
  close(): Promise<void>
}

/** A way from a publishing app to a subscribing app, through one API. */
export interface ApiPath {
  readonly name: string
  /** Sends in flight at once during the throughput run. */
  readonly window: number
  /** Messages in the throughput run. */
  readonly burst: number
  /** Subscribes; resolves once the API confirmed the subscription. */
  subscribe(onText: (text: string) => void): Promise<Subscriber>
  publisher(): Promise<Publisher>
}

export interface MqttPathOptions {
  readonly name: string
  readonly url: string
  readonly topic: string
  readonly qos: 0 | 1
  readonly burst: number
}

/** MQTT publisher → MQTT subscriber, both on one broker (the node's or mosquitto). */
export function mqttPath(options: MqttPathOptions): ApiPath {
  const { url, topic, qos } = options
  const connect = async (): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clean: true })
    // mqtt.js leaves Nagle's algorithm on; with delayed ACKs it holds QoS 0 messages for up to 40 ms.
    if (client.stream instanceof Socket) client.stream.setNoDelay(true)
    return client
  }
  return {
    name: options.name,
    // mqtt.js keeps every unacknowledged QoS 1 message; 1,000 in flight keeps the pipe full either way.
    window: 1_000,
    burst: options.burst,
    async subscribe(onText) {
      const client = await connect()
      client.on('message', (_topic, payload) => onText(payload.toString()))
      await client.subscribeAsync(topic, { qos })
      return { close: () => client.endAsync() }
    },
    async publisher() {
      const client = await connect()
      return {
        send: async (text) => {
          await client.publishAsync(topic, text, { qos })
        },
        close: () => client.endAsync(),
      }
    },
  }
}

/** Subscribes through the node's WebSocket API: each text frame is one JSON message. */
async function webSocketSubscribe(
  websocketUrl: string,
  streamId: string,
  onText: (text: string) => void,
): Promise<Subscriber> {
  const socket = await openWebSocket(`${websocketUrl}/streams/${encodeURIComponent(streamId)}/subscribe`)
  socket.on('message', (data: WebSocket.RawData) => onText(rawText(data)))
  return { close: () => closeWebSocket(socket) }
}

export interface WebSocketPathOptions {
  readonly websocketUrl: string
  readonly streamId: string
  readonly burst: number
}

/** WebSocket publish socket → WebSocket subscribe socket, frames pipelined. */
export function webSocketPath(options: WebSocketPathOptions): ApiPath {
  const { websocketUrl, streamId } = options
  return {
    name: 'Runnel WebSocket',
    window: 1_000,
    burst: options.burst,
    subscribe: (onText) => webSocketSubscribe(websocketUrl, streamId, onText),
    async publisher() {
      const socket = await openWebSocket(`${websocketUrl}/streams/${encodeURIComponent(streamId)}/publish`)
      return {
        send: (text) =>
          new Promise<void>((resolve, reject) =>
            // ws passes null, not undefined, on success when the socket write completes.
            socket.send(text, (err) => (err instanceof Error ? reject(err) : resolve())),
          ),
        close: () => closeWebSocket(socket),
      }
    },
  }
}

export interface HttpPathOptions extends WebSocketPathOptions {
  readonly httpUrl: string
  /** Keep-alive connections, and so requests in flight. */
  readonly connections: number
}

/** `POST /streams/<id>` over keep-alive connections → WebSocket subscribe socket (HTTP has no subscribe). */
export function httpPath(options: HttpPathOptions): ApiPath {
  const { websocketUrl, streamId, connections } = options
  return {
    name: 'Runnel HTTP → WebSocket',
    window: connections,
    burst: options.burst,
    subscribe: (onText) => webSocketSubscribe(websocketUrl, streamId, onText),
    publisher() {
      return Promise.resolve(httpPoster(options, 'application/json'))
    },
  }
}

export interface HttpBatchPathOptions extends HttpPathOptions {
  /** Most messages in one request. */
  readonly batchSize: number
}

/**
 * `POST /streams/<id>` with NDJSON bodies → WebSocket subscribe socket. Sends
 * made in one turn of the event loop go in one request, up to `batchSize`;
 * each resolves when its request is answered. At a steady low rate a batch is
 * one message, so the latency run measures the same as `httpPath`, with NDJSON.
 */
export function httpBatchPath(options: HttpBatchPathOptions): ApiPath {
  const { websocketUrl, streamId, connections, batchSize } = options
  return {
    name: `Runnel HTTP batch (${batchSize}) → WebSocket`,
    window: connections * batchSize,
    burst: options.burst,
    subscribe: (onText) => webSocketSubscribe(websocketUrl, streamId, onText),
    publisher() {
      const post = httpPoster(options, 'application/x-ndjson')
      type Batch = { lines: string[]; done: Promise<void>; settle(sent: Promise<void>): void }
      let pending: Batch | undefined
      const flush = (): void => {
        const batch = pending
        if (batch === undefined) return
        pending = undefined
        batch.settle(post.send(batch.lines.join('\n')))
      }
      return Promise.resolve({
        send(text: string): Promise<void> {
          if (pending === undefined) {
            let settle: Batch['settle'] = () => {}
            const done = new Promise<void>((resolve, reject) => {
              settle = (sent) => void sent.then(resolve, reject)
            })
            pending = { lines: [], done, settle }
            setImmediate(flush)
          }
          const batch = pending
          batch.lines.push(text)
          if (batch.lines.length === batchSize) flush()
          return batch.done
        },
        close: () => post.close(),
      })
    },
  }
}

/** POSTs bodies over keep-alive connections; each send resolves when its response is a 200. */
function httpPoster(
  options: HttpPathOptions,
  contentType: string,
): { send(body: string): Promise<void>; close(): Promise<void> } {
  const url = new URL(`/streams/${encodeURIComponent(options.streamId)}`, options.httpUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections })
  return {
    send: (text) =>
      new Promise((resolve, reject) => {
        const body = Buffer.from(text)
        const req = request(
          url,
          { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': body.byteLength } },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (chunk: Buffer) => chunks.push(chunk))
            res.on('end', () => {
              if (res.statusCode === 200) resolve()
              else reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString()}`))
            })
          },
        )
        req.on('error', reject)
        req.end(body)
      }),
    close: () => {
      agent.destroy()
      return Promise.resolve()
    },
  }
}

function openWebSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.once('open', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`${url} refused the WebSocket: HTTP ${res.statusCode}`)),
    )
  })
}

function closeWebSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve()
  return new Promise((resolve) => {
    socket.once('close', () => resolve())
    socket.close()
  })
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString()
  if (Array.isArray(data)) return Buffer.concat(data).toString()
  return Buffer.from(data).toString()
}
