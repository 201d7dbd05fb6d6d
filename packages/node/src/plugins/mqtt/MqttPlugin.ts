import type { EventEmitter } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import type { ReceivedMessage } from '@runnel/client'
import {
  Aedes,
  type AedesPublishPacket,
  type AuthenticateError,
  type AuthErrorCode,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from 'aedes'
import type { ApiError } from '../../api/ApiError.js'
import type { ApiGateway } from '../../api/ApiGateway.js'
import type { MqttPluginConfig } from '../../config.js'
import { NodeError } from '../../errors.js'
import type { ApiPlugin } from '../ApiPlugin.js'
import type { EgressQueue } from '../fanout/EgressWriter.js'
import { EncodedMessage } from '../fanout/EncodedMessage.js'
import { capConnections } from '../limits.js'
import { close, listen, urlHost } from '../listen.js'
import { parsePayload } from './payload.js'
import { parseTopic } from './topic.js'
import { TopicSubscriptions } from './TopicSubscriptions.js'

/** CONNACK return codes of MQTT 3.1.1. */
const BAD_USERNAME_OR_PASSWORD = 4
const NOT_AUTHORIZED = 5
const SERVER_UNAVAILABLE: AuthErrorCode = 3
/** What aedes 1.2 reports for a connection cut off by its `connectTimeout` (no typed error or code to match). */
const CONNECT_TIMEOUT_MESSAGE = 'connect did not arrive in time'

/** Publishes of one MQTT client, passed to the network one at a time. */
interface PublishQueue {
  tail: Promise<void>
  /** Set by the first refused publish; the publishes queued behind it are refused too. */
  failed: Error | undefined
}

/**
 * The MQTT API (MQTT 3.1 and 3.1.1, over TCP): the topic is a stream id,
 * optionally with a `?partition=N` suffix. With `streamIdDomain` set, topics
 * are paths below it (`sensors` is `<domain>/sensors`).
 *
 * - Publish (QoS 0 or 1): a payload that is valid UTF-8 JSON is published as
 *   JSON, anything else as binary; with `payloadMetadata`, send
 *   `{ content, metadata }`. A QoS 1 PUBACK means the node signed and sent
 *   the message. Without a partition the message goes to partition 0.
 * - A refused publish (unknown stream, no permission, bad partition, too
 *   large, not JSON when `payloadMetadata` is on) closes the client's
 *   connection without a PUBACK: MQTT 3.1.1 has no way to refuse a PUBLISH
 *   (MQTT-3.3.5-2), and aedes 1.2 does exactly that for an authorization
 *   error. The node logs the reason and counts it in `runnel_api_errors_total`.
 * - Subscribe: without a partition, to every partition. `resendLast=N` or
 *   `resendFrom=…` in the suffix (`…/sensors?resendLast=10`) sends stored
 *   history first, for each such subscriber on its own. An unknown stream, no
 *   permission, a bad partition, history of a stream no storage node stores or
 *   a wildcard (`#`, `+`) gets a SUBACK failure (0x80). Messages arrive at the granted QoS, at most 1. A client
 *   with more than `delivery.maxSubscriberBufferBytes` (8 MiB) unsent is
 *   disconnected (shed). Clients of one topic share its network subscription,
 *   and QoS 0 clients one PUBLISH packet per message, built once.
 * - A publish that arrives while the node is saturated (see `Pushback`)
 *   closes the connection like any refused publish.
 * - With API keys, the password must be one (the username is ignored, but
 *   mosquitto_pub wants one with `-P`): a missing key gets CONNACK code 5
 *   (not authorized), a wrong one code 4.
 * - Not supported: retained messages (the flag is ignored; `resendLast=1`
 *   gives a new subscriber the last stored message instead), persistent
 *   sessions (every session is clean; resubscribe after reconnecting), MQTT 5.
 *
 * @example
 * ```sh
 * mosquitto_sub -p 1883 -t '0xabc…/sensors'
 * mosquitto_pub -p 1883 -q 1 -t '0xabc…/sensors?partition=2' -m '{"celsius":21.5}' -u any -P "$API_KEY"
 * ```
 */
export class MqttPlugin implements ApiPlugin {
  readonly name = 'mqtt'
  private broker: Aedes | undefined
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly subscriptions = new TopicSubscriptions<Client>()
  /** A number per client, for the keys of its own subscriptions (see keyOf). */
  private readonly clientSerials = new WeakMap<Client, number>()
  private lastClientSerial = 0
  private readonly publishQueues = new WeakMap<Client, PublishQueue>()
  /** Each client's quota client (when the node has quotas), charged for its publishes. */
  private readonly quotaClients = new WeakMap<Client, string>()
  /**
   * Payloads of messages that came from the network: the only ones forwarded.
   * aedes also routes a client's PUBLISH straight to local subscribers, who
   * would then get it twice, as the network delivers it too (the node's
   * client receives its own messages). aedes copies packets but keeps the payload Buffer.
   */
  private readonly fromNetwork = new WeakSet<Buffer>()
  /** Clients counted in the connections gauge (aedes may report a disconnect for a client it never announced). */
  private readonly counted = new WeakSet<Client>()
  /** Each QoS 0 subscriber's frames not yet handed to its socket. */
  private readonly egressQueues = new WeakMap<Client, EgressQueue>()

  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: MqttPluginConfig,
  ) {}

  async start(): Promise<string> {
    const broker = await Aedes.createBroker({
      preConnect: (_client, packet, callback) => this.preConnect(packet, callback),
      authenticate: (client, _username, password, callback) => this.authenticate(client, password, callback),
      authorizePublish: (client, packet, callback) => this.authorizePublish(client, packet, callback),
      authorizeSubscribe: (client, subscription, callback) => this.authorizeSubscribe(client, subscription, callback),
      authorizeForward: (_client, packet) => this.authorizeForward(packet),
      // aedes closes a connection that hasn't sent its CONNECT by then (its default is 30 s).
      connectTimeout: this.config.connectTimeoutMs,
    })
    this.broker = broker
    this.watch(broker)
    // noDelay: with Nagle on, a small message waits for the subscriber's delayed ACK (measured: p50 9–18 ms at 1 KiB).
    const server = createServer({ noDelay: true }, (socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
      broker.handle(socket)
    })
    capConnections(server, this.config.maxConnections, () =>
      this.gateway.metrics.connectionsCut.inc({ api: 'mqtt', reason: 'max_connections' }),
    )
    this.server = server
    try {
      const port = await listen(server, this.config.host, this.config.port, 'mqtt')
      return `mqtt://${urlHost(this.config.host, port)}`
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async stop(): Promise<void> {
    const { broker, server } = this
    this.broker = undefined
    this.server = undefined
    const closed = server === undefined ? Promise.resolve() : close(server)
    // Closing the broker closes every connected client, which ends their subscriptions.
    if (broker !== undefined) await new Promise<void>((resolve) => broker.close(() => resolve()))
    // Connections that never completed CONNECT aren't the broker's clients yet.
    for (const socket of this.sockets) socket.destroy()
    await closed
    this.subscriptions.closeAll()
  }

  private watch(broker: Aedes): void {
    const { metrics, logger } = this.gateway
    broker.on('client', (client) => {
      this.counted.add(client)
      metrics.connections.inc({ api: 'mqtt' })
      logger.debug({ api: 'mqtt', clientId: client.id }, 'MQTT client connected')
    })
    broker.on('clientDisconnect', (client) => {
      if (this.counted.delete(client)) metrics.connections.dec({ api: 'mqtt' })
      this.subscriptions.removeAll(client)
      // After what it queued: a publish still in the queue would otherwise start the caller's chain again.
      const queue = this.publishQueues.get(client)
      const release = (): void => this.gateway.releaseCaller(this.callerOf(client))
      if (queue !== undefined) void queue.tail.then(release, release)
      logger.debug({ api: 'mqtt', clientId: client.id }, 'MQTT client disconnected')
    })
    broker.on('unsubscribe', (topics, client) => {
      for (const topic of topics) this.subscriptions.remove(client, this.keyOf(client, topic))
    })
    broker.on('clientError', (client, err) => {
      logger.debug({ api: 'mqtt', clientId: client.id, reason: err.message }, 'MQTT connection closed on an error')
    })
    broker.on('connectionError', (_client, err) => {
      if (err.message === CONNECT_TIMEOUT_MESSAGE)
        metrics.connectionsCut.inc({ api: 'mqtt', reason: 'connect_timeout' })
      logger.debug({ api: 'mqtt', reason: err.message }, 'MQTT connection failed')
    })
    // Without a listener an 'error' event (a failed persistence call) would throw and take the node down.
    const emitter: EventEmitter = broker
    emitter.on('error', (err: unknown) => logger.error({ api: 'mqtt', err }, 'MQTT broker error'))
  }

  private preConnect(packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void): void {
    // A stored session would have to queue network messages for absent clients, without bound; so none is kept.
    packet.clean = true
    callback(null, true)
  }

  private authenticate(
    client: Client,
    password: Readonly<Buffer | undefined>,
    callback: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    if (this.gateway.apiKeys.isValid(password)) {
      const refusal = this.chargeConnection(client, password)
      if (refusal === undefined) return callback(null, true)
      return callback(Object.assign(new Error(refusal.message), { returnCode: SERVER_UNAVAILABLE }), false)
    }
    const missing = password === undefined || password.length === 0
    const error = this.gateway.fail(
      'mqtt',
      new NodeError(
        'UNAUTHORIZED',
        missing ? 'this node requires an API key: send it as the MQTT password' : 'the API key is not valid',
      ),
      { clientId: client.id },
    )
    const returnCode = (missing ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD) as AuthErrorCode
    callback(Object.assign(new Error(error.message), { returnCode }), false)
  }

  /**
   * Counts the connection against its client's quota until it closes. Over the client's `maxConnections`: the
   * refusal, for CONNACK 3 (server unavailable; aedes speaks MQTT 3.1.1, which has no "quota exceeded" code).
   */
  private chargeConnection(client: Client, password: Readonly<Buffer | undefined>): ApiError | undefined {
    const { quotas } = this.gateway
    if (!quotas.enabled) return undefined
    const address = (client.conn as Partial<Socket>).remoteAddress
    const quotaClient = quotas.clientOf(password, address, this.gateway.apiKeys.required)
    try {
      client.conn.once('close', quotas.openConnection('mqtt', quotaClient))
    } catch (err) {
      return this.gateway.fail('mqtt', err, { clientId: client.id })
    }
    this.quotaClients.set(client, quotaClient)
    return undefined
  }

  private authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
  ): void {
    // Retained messages aren't supported: aedes would keep one per topic for good, only for authorizeForward to hold it back.
    packet.retain = false
    // aedes hands all publishes of one socket read to this handler at once; a queue keeps them in order.
    const queue = client === null ? { tail: Promise.resolve(), failed: undefined } : this.queueOf(client)
    // Charged as it arrives; over the quota it is refused in its turn, which closes the connection (3.1.1 has no
    // way to refuse one PUBLISH).
    const overQuota = this.overQuota(client, packet)
    const refuse = (err: unknown): void => {
      queue.failed ??= this.refusePublish(client, packet, err)
      // aedes 1.2 emits 'clientError' and closes the connection; the client gets no PUBACK.
      callback(queue.failed)
    }
    let admitted: () => void
    try {
      // Saturated: MQTT 3.1.1 can't refuse one PUBLISH, so the connection closes (as for any refused publish).
      admitted = this.gateway.pushback.admit()
    } catch (err) {
      queue.failed ??= this.refusePublish(client, packet, err)
      return callback(queue.failed)
    }
    queue.tail = queue.tail
      .then(() => {
        const failed = queue.failed ?? overQuota
        if (failed !== undefined) {
          admitted()
          throw failed
        }
        const sent = this.publish(client, packet)
        sent.then(admitted, admitted)
        return sent
      })
      .then(
        // Only now may aedes send the PUBACK: at once, or (puback: stored, QoS 1) once stored, while the next
        // publish of the queue goes ahead. Not stored in time: the connection closes and the client resends.
        ({ stored }) => stored.then(() => callback(null), refuse),
        refuse,
      )
      .catch((err: unknown) => this.gateway.logger.error({ api: 'mqtt', err }, 'MQTT publish callback failed'))
  }

  /** The quota refusal of a publish, if its client is over a rate. */
  private overQuota(client: Client | null, packet: PublishPacket): Error | undefined {
    const quotaClient = client === null ? undefined : this.quotaClients.get(client)
    if (quotaClient === undefined) return undefined
    const bytes = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.byteLength
    try {
      this.gateway.quotas.takePublish('mqtt', quotaClient, 1, bytes)
      return undefined
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err))
    }
  }

  private queueOf(client: Client): PublishQueue {
    let queue = this.publishQueues.get(client)
    if (queue === undefined) this.publishQueues.set(client, (queue = { tail: Promise.resolve(), failed: undefined }))
    return queue
  }

  /** Resolves once the message is accepted; `stored` settles with the PUBACK's level (wrapped: a bare promise would be awaited). */
  private async publish(client: Client | null, packet: PublishPacket): Promise<{ stored: Promise<void> }> {
    const { streamId, partition } = parseTopic(packet.topic, this.config.streamIdDomain)
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    // Before parsing: a large payload is refused without the work.
    this.gateway.checkSize(payload.byteLength)
    const { content, metadata } = parsePayload(payload, this.config.payloadMetadata)
    const params = {
      ...(partition !== undefined && { partition }),
      ...(this.config.puback === 'stored' && packet.qos === 1 && { ack: 'stored' as const }),
    }
    const caller = this.callerOf(client)
    const sent = await this.gateway.publishPipelined(
      'mqtt',
      caller,
      streamId,
      content,
      payload.byteLength,
      params,
      metadata,
    )
    return { stored: sent.stored }
  }

  private callerOf(client: Client | null): string {
    // A publish without a client is the broker's own (aedes allows it): a caller of its own, never released.
    if (client === null) return 'mqtt:broker'
    return `mqtt:${this.serialOf(client)}`
  }

  private refusePublish(client: Client | null, packet: PublishPacket, err: unknown): Error {
    const context = { clientId: client?.id, topic: packet.topic }
    const error = this.gateway.fail('mqtt', err, context)
    // The client learns nothing but the closed connection, so the node's log has to say why.
    this.gateway.logger.warn(
      { api: 'mqtt', ...context, code: error.code, reason: error.message },
      'MQTT publish refused; closing the connection',
    )
    return new Error(`${error.code}: ${error.message}`)
  }

  private authorizeSubscribe(
    client: Client,
    subscription: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    this.subscribe(client, subscription.topic)
      .then((granted) => {
        // A null subscription is a SUBACK failure (0x80) for this topic; the client's other topics are unaffected.
        callback(null, granted ? subscription : null)
        // aedes has now added the subscription (synchronously, as sessions are clean): deliveries may start.
        if (granted) this.subscriptions.grant(client, this.keyOf(client, subscription.topic), subscription.qos)
      })
      .catch((err: unknown) => this.gateway.logger.error({ api: 'mqtt', err }, 'MQTT subscribe callback failed'))
  }

  private async subscribe(client: Client, topic: string): Promise<boolean> {
    const key = this.keyOf(client, topic)
    try {
      const { streamId, partition, resend } = parseTopic(topic, this.config.streamIdDomain, 'subscribe')
      const params = {
        ...(partition !== undefined && { partitions: [partition] }),
        ...(resend !== undefined && { resend }),
      }
      await this.subscriptions.add(client, key, () =>
        this.gateway.subscribe(
          'mqtt',
          streamId,
          params,
          (message) => this.deliver(key, topic, message),
          // MQTT can't tell a subscriber anything after its SUBACK: the gateway has logged it; the live messages go on.
          () => undefined,
        ),
      )
    } catch (err) {
      const error = this.gateway.fail('mqtt', err, { clientId: client.id, topic })
      this.gateway.logger.info(
        { api: 'mqtt', clientId: client.id, topic, code: error.code, reason: error.message },
        'MQTT subscription refused',
      )
      return false
    }
    // Opening takes chain calls: the client may have unsubscribed or gone meanwhile.
    if (client.closed) this.subscriptions.remove(client, key)
    return this.subscriptions.has(client, key)
  }

  /**
   * Which network subscription serves a client's topic. Clients of one topic
   * share one, except with history (`resendLast`, `resendFrom`): each such
   * subscriber gets its own, so each gets the history from its start.
   */
  private keyOf(client: Client, topic: string): string {
    if (!this.asksForHistory(topic)) return topic
    return `${topic}\u0000${this.serialOf(client)}`
  }

  /** A number of the connection's own (aedes reuses nothing, but a client id may connect again). */
  private serialOf(client: Client): number {
    let serial = this.clientSerials.get(client)
    if (serial === undefined) this.clientSerials.set(client, (serial = ++this.lastClientSerial))
    return serial
  }

  private asksForHistory(topic: string): boolean {
    try {
      return parseTopic(topic, this.config.streamIdDomain, 'subscribe').resend !== undefined
    } catch {
      return false // refused when subscribing; the key doesn't matter
    }
  }

  /**
   * Sends a network message to the clients subscribed under `key`, as a PUBLISH on the `topic` they subscribed to.
   * QoS 0 clients get one packet built once for all of them, queued for their sockets (see `EgressWriter`);
   * QoS 1 clients need a packet id of their own, which aedes gives.
   */
  private deliver(key: string, topic: string, message: ReceivedMessage): void {
    const encoded = new EncodedMessage(message, this.gateway.egress.allocate)
    let copies = 0
    let bytes = 0
    // QoS 1 bytes, which aedes writes at once (the egress notes the QoS 0 ones as their sockets take them).
    let bytesNow = 0
    // Straight to each client rather than through broker.publish: aedes numbers every packet it routes and drops one
    // numbered below a packet the client already saw; a QoS 1 packet takes a slower path through the broker, so a
    // client's own QoS 0 publish overtook it and network messages were lost. client.publish numbers and checks at once.
    for (const [client, qos] of this.subscriptions.recipients(key)) {
      if (client.closed) continue
      // Nothing waits for a slow client (that would hold up the others), so its backlog is bounded: past it, shed.
      const queue = this.egressOf(client)
      if (qos === 0) {
        const packet = encoded.mqttPacket(topic, this.config.payloadMetadata)
        if (!queue.write(packet)) {
          this.shed(client, topic)
          continue
        }
        bytes += packet.byteLength
      } else {
        if (queue.unsentBytes > this.gateway.delivery.maxSubscriberBufferBytes) {
          this.shed(client, topic)
          continue
        }
        const payload = encoded.payload(this.config.payloadMetadata)
        this.fromNetwork.add(payload)
        client.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, noop)
        bytes += payload.byteLength
        bytesNow += payload.byteLength
      }
      copies++
    }
    const { metrics } = this.gateway
    // The gateway counted one delivery for the topic's network subscription; the rest are fan-out.
    if (copies > 1) metrics.delivered.inc({ api: 'mqtt' }, copies - 1)
    if (bytes > 0) metrics.deliveredBytes.inc({ api: 'mqtt' }, bytes)
    if (bytesNow > 0) this.gateway.afterLoad.noteSent(bytesNow)
  }

  private egressOf(client: Client): EgressQueue {
    let queue = this.egressQueues.get(client)
    if (queue === undefined) {
      queue = this.gateway.egress.open(client.conn, () => !client.closed)
      this.egressQueues.set(client, queue)
    }
    return queue
  }

  /**
   * A client with more than `delivery.maxSubscriberBufferBytes` unsent is disconnected: MQTT 3.1.1 has no way to
   * tell it why, so the node logs it and counts it (`runnel_api_connections_cut_total{reason="slow_subscriber"}`).
   */
  private shed(client: Client, topic: string): void {
    const limit = this.gateway.delivery.maxSubscriberBufferBytes
    this.gateway.metrics.connectionsCut.inc({ api: 'mqtt', reason: 'slow_subscriber' })
    const queue = this.egressOf(client)
    this.gateway.logger.warn(
      { api: 'mqtt', clientId: client.id, topic, unsentBytes: queue.unsentBytes, limit },
      'MQTT client reads too slowly: disconnecting it',
    )
    queue.discard()
    this.subscriptions.removeAll(client)
    client.close()
  }

  private authorizeForward(packet: AedesPublishPacket): AedesPublishPacket | null {
    return typeof packet.payload !== 'string' && this.fromNetwork.has(packet.payload) ? packet : null
  }
}

function noop(): void {}
