import type { NetworkNode } from '@runnel/network'
import {
  ContentType,
  EncryptionType,
  MessageId,
  encodeJsonContent,
  shortMessageOf,
  signStreamMessage,
  splitStreamPartId,
  systemClock,
  type Clock,
  type EncryptedGroupKey,
  type MessageSigner,
  type MessageType,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { ClientError } from '../errors.js'
import type { ClientLogger } from '../logger.js'
import { GroupKey } from './GroupKey.js'
import type { KeyCustodyOptions } from './custody/KeyCustody.js'
import type { GroupKeyStore } from './KeyStore.js'
import { KeyRequests, randomHex } from './KeyRequests.js'
import { KeyServer } from './KeyServer.js'
import {
  SilentPublishers,
  holderKeySource,
  keyUnavailable,
  publisherKeySource,
  type GroupKeySource,
  type KeyFetch,
} from './keySources.js'

/** What the encryption layer needs from the client. */
export interface EncryptionLayerComponents {
  /** The client's address, lowercase. */
  readonly address: string
  readonly signer: MessageSigner
  readonly node: Pick<NetworkNode, 'broadcast' | 'addMessageListener'>
  readonly keyStore: GroupKeyStore
  /** Joins a stream part (to send a request or answer one). */
  join(streamPartId: StreamPartId): Promise<void>
  /** Subscribe permission now, for answering requests. */
  maySubscribe(streamId: string, user: string): Promise<boolean>
  /** Where a key the publisher didn't give is sought next: threshold custody with the storage nodes. */
  recoverFromCustody?(streamPartId: StreamPartId, publisherId: string, keyId: string): Promise<GroupKey>
  readonly clock?: Clock
  readonly logger?: ClientLogger
}

export interface EncryptionOptions {
  /** How long a subscriber waits for a key response before asking again. Default 5 s. */
  readonly keyRequestTimeoutMs?: number
  /**
   * Requests per missing key before giving up. The first goes to the key's publisher alone; the others to the
   * publisher or any client holding the key (so a publisher gone for good costs one timeout). Default 3; 1 never
   * asks holders.
   */
  readonly keyRequestAttempts?: number
  /**
   * Serve keys this client holds (obtained as a subscriber) to requesters with subscribe permission, once their
   * publisher doesn't answer. Default true.
   */
  readonly serveHeldKeys?: boolean
  /**
   * A holder waits a random time up to this before answering, and doesn't answer if another holder did meanwhile:
   * one request gets about one answer however many clients hold the key. Default 250 ms.
   */
  readonly holderAnswerDelayMs?: number
  /** How long a key that couldn't be obtained isn't asked for again (messages needing it fail at once). Default 30 s. */
  readonly failedKeyMemoryMs?: number
  /** Key requests a publisher answers per requester per minute; more are refused. Default 60. */
  readonly maxRequestsPerMinute?: number
  /** Rotate each stream's key this often (ms) when publishing. Default: never automatically. */
  readonly rotationIntervalMs?: number
  /** Threshold custody of this publisher's keys with the stream's storage nodes. Default: on. */
  readonly custody?: KeyCustodyOptions
}

const FAILED_KEY_MEMORY_MS = 30_000

interface CurrentKey {
  readonly key: GroupKey
  readonly createdAt: number
  /** Set by a rotation: the next message announces it (sealed with `key`) and then it takes over. */
  next?: GroupKey
}

/**
 * End-to-end encryption of content and the key exchange behind it.
 *
 * Publishers seal content with a per-stream AES-256-GCM group key. A
 * subscriber missing a key sends a signed request with a one-off public key
 * into the stream part; the publisher checks the requester's subscribe
 * permission and answers with the key sealed to that public key. Rotation
 * hands the next key, sealed with the current one, to current holders in the
 * next message; a rekey starts a new key that only key exchange hands out, so
 * only users permitted now get it.
 */
export class EncryptionLayer {
  private readonly keys = new Map<string, CurrentKey>()
  private readonly inFlight = new Map<string, Promise<GroupKey>>()
  private readonly sources: GroupKeySource[]
  private readonly server: KeyServer
  private readonly requests: KeyRequests
  private readonly clock: Clock

  constructor(
    private readonly components: EncryptionLayerComponents,
    private readonly options: EncryptionOptions = {},
  ) {
    const clock = (this.clock = components.clock ?? systemClock)
    const send = (streamPartId: StreamPartId, type: MessageType, content: unknown): Promise<void> =>
      this.send(streamPartId, type, content)
    const { address, node, keyStore, logger } = components
    this.server = new KeyServer(
      {
        address,
        node,
        keyStore,
        maySubscribe: (streamId, user) => components.maySubscribe(streamId, user),
        send,
        clock,
        logger,
      },
      options,
    )
    const channel = (this.requests = new KeyRequests({ address, node, send, clock }))
    const timeoutMs = options.keyRequestTimeoutMs ?? 5_000
    const attempts = options.keyRequestAttempts ?? 3
    const silent = new SilentPublishers(options.failedKeyMemoryMs ?? FAILED_KEY_MEMORY_MS, clock)
    this.sources = [
      publisherKeySource(channel, components.keyStore, silent, { attempts: Math.min(attempts, 1), timeoutMs }),
      // An anyHolder request still names the publisher, which answers it too: asking holders from the second
      // request on costs nothing when the publisher was only slow, and saves the timeouts when it is gone.
      holderKeySource(channel, silent, { attempts: Math.max(attempts - 1, 0), timeoutMs }),
    ]
    // Then the storage nodes' shares (custody/KeyCustody.ts), when the client keeps keys in custody.
    const custody = components.recoverFromCustody?.bind(components)
    if (custody !== undefined) {
      this.addKeySource({
        name: 'custody',
        fetch: ({ streamPartId, publisherId, keyId }) =>
          custody(streamPartId, publisherId, keyId).then(
            (found) => ({ found }),
            (err: unknown) => ({
              silent: `custody: ${shortMessageOf(err)}`,
              cause: err,
            }),
          ),
      })
    }
  }

  /**
   * Adds a place to obtain missing keys from, asked after the publisher and the holders (and any source added
   * before) had nothing. Keys it finds are checked against the publisher's signed message before they are used.
   */
  addKeySource(source: GroupKeySource): void {
    this.sources.push(source)
  }

  // ---- publisher ----

  /**
   * Encrypts a message's content with the stream's current key (creating one
   * the first time) and, after a rotation, carries the next key.
   */
  async seal(
    streamPartId: StreamPartId,
    content: Uint8Array,
  ): Promise<{ content: Uint8Array; groupKeyId: string; newGroupKey: EncryptedGroupKey | undefined }> {
    this.serve(streamPartId)
    const { streamId } = splitStreamPartId(streamPartId)
    let current = this.keys.get(streamId)
    if (current === undefined) current = await this.setKey(streamId, GroupKey.generate())
    const rotation = this.options.rotationIntervalMs
    if (current.next === undefined && rotation !== undefined && this.clock.now() - current.createdAt >= rotation) {
      current.next = GroupKey.generate()
      await this.components.keyStore.add(this.components.address, current.next)
    }
    const sealed = await current.key.encrypt(content)
    const next = current.next
    if (next === undefined) return { content: sealed, groupKeyId: current.key.id, newGroupKey: undefined }
    const newGroupKey = { id: next.id, data: await current.key.encryptNextKey(next) }
    this.keys.set(streamId, { key: next, createdAt: this.clock.now() })
    return { content: sealed, groupKeyId: current.key.id, newGroupKey }
  }

  /**
   * Starts a new key for a stream. `rotate`: the next message carries it,
   * sealed with the current key. `rekey`: only key exchange hands it out.
   * `key`: use this key (an app's own) instead of a new random one.
   */
  async updateKey(streamId: string, method: 'rotate' | 'rekey', key: GroupKey = GroupKey.generate()): Promise<void> {
    const current = this.keys.get(streamId)
    if (method === 'rotate' && current !== undefined) {
      await this.components.keyStore.add(this.components.address, key)
      current.next = key
      return
    }
    await this.setKey(streamId, key)
  }

  private async setKey(streamId: string, key: GroupKey): Promise<CurrentKey> {
    await this.components.keyStore.add(this.components.address, key)
    const current = { key, createdAt: this.clock.now() }
    this.keys.set(streamId, current)
    return current
  }

  /** Answers key requests addressed to this client in a stream part (see {@link KeyServer.serve}). */
  serve(streamPartId: StreamPartId): void {
    this.server.serve(streamPartId)
  }

  // ---- subscriber ----

  /**
   * The plaintext of an encrypted message: with a key from the store, or
   * obtained from its publisher. Keeps any next key the message carries.
   *
   * @throws {@link ClientError} `KEY_UNAVAILABLE` (refused, or no answer), `DECRYPTION_FAILED`
   */
  async open(message: StreamMessage): Promise<Uint8Array> {
    const keyId = message.groupKeyId
    if (message.encryptionType !== EncryptionType.Aes || keyId === undefined) return message.content
    const key = await this.keyFor(message, keyId)
    const plaintext = await key.decrypt(message.content)
    if (message.newGroupKey !== undefined) {
      const next = await key.decryptNextKey(message.newGroupKey.id, message.newGroupKey.data)
      await this.components.keyStore.add(message.publisherId, next)
    }
    return plaintext
  }

  private async keyFor(message: StreamMessage, keyId: string): Promise<GroupKey> {
    const { publisherId } = message
    const stored = await this.components.keyStore.get(publisherId, keyId)
    if (stored !== undefined) return stored
    const flight = `${publisherId}/${keyId}`
    let request = this.inFlight.get(flight)
    if (request === undefined) {
      request = this.fetchKey({
        streamPartId: message.streamPartId,
        publisherId,
        keyId,
        // Every message waiting for this key shares this fetch; the first one's ciphertext tells the genuine key.
        verify: (key) =>
          key.decrypt(message.content).then(
            () => true,
            () => false,
          ),
      })
      this.inFlight.set(flight, request)
      // A success is in the store from now on. A failure is remembered a while, so the
      // messages behind it fail at once instead of each asking again for a silent publisher.
      request.then(
        () => this.inFlight.delete(flight),
        () =>
          this.clock.setTimeout(
            () => this.inFlight.delete(flight),
            this.options.failedKeyMemoryMs ?? FAILED_KEY_MEMORY_MS,
            { unref: true },
          ),
      )
    }
    return request
  }

  /** Asks each key source in turn; the first key found (and verified) is stored. */
  private async fetchKey(fetch: KeyFetch): Promise<GroupKey> {
    // Joining starts the client's node too (a resend alone never did).
    await this.components.join(fetch.streamPartId)
    this.requests.listen(fetch.streamPartId)
    const { streamId } = splitStreamPartId(fetch.streamPartId)
    const reasons: string[] = []
    let cause: unknown
    for (const source of this.sources) {
      let result
      try {
        result = await source.fetch(fetch)
      } catch (err) {
        reasons.push(`${source.name}: ${String(err)}`)
        cause = err
        continue
      }
      if ('found' in result) {
        if (result.found.id !== fetch.keyId || !(await fetch.verify(result.found))) {
          reasons.push(`${source.name}: a key that doesn't open the message`)
          continue
        }
        await this.components.keyStore.add(fetch.publisherId, result.found)
        return result.found
      }
      cause = result.cause ?? cause
      if ('refused' in result) {
        if (result.final) {
          throw new ClientError('KEY_UNAVAILABLE', result.refused, cause === undefined ? undefined : { cause })
        }
        reasons.push(result.refused)
      } else {
        reasons.push(result.silent)
      }
    }
    throw keyUnavailable(streamId, fetch.keyId, reasons, cause)
  }

  private async send(streamPartId: StreamPartId, type: MessageType, content: unknown): Promise<void> {
    const { streamId, partition } = splitStreamPartId(streamPartId)
    const message = await signStreamMessage(
      {
        // A chain of its own per message: exchange messages are independent, and must never be deduplicated together.
        messageId: new MessageId(
          streamId,
          partition,
          this.clock.now(),
          0,
          this.components.signer.address,
          randomHex(10),
        ),
        messageType: type,
        contentType: ContentType.Json,
        content: encodeJsonContent(content),
      },
      this.components.signer,
    )
    await this.components.join(streamPartId)
    this.components.node.broadcast(message)
  }
}
