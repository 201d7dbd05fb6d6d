import type { NetworkNode } from '@runnel/network'
import {
  ContentType,
  EncryptionType,
  MessageId,
  MessageType,
  encodeJsonContent,
  parseJsonContent,
  signStreamMessage,
  splitStreamPartId,
  type EncryptedGroupKey,
  type MessageSigner,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { ClientError } from '../errors.js'
import { GroupKey } from './GroupKey.js'
import { generateExchangeKeyPair, openGroupKey, sealGroupKey } from './keyExchange.js'
import type { KeyCustodyOptions } from './custody/KeyCustody.js'
import type { GroupKeyStore } from './KeyStore.js'
import {
  fromBase64,
  parseGroupKeyRequest,
  parseGroupKeyResponse,
  toBase64,
  type GroupKeyErrorCode,
  type GroupKeyResponse,
} from './messages.js'

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
}

export interface EncryptionOptions {
  /** How long a subscriber waits for a key response before asking again. Default 5 s. */
  readonly keyRequestTimeoutMs?: number
  /** Requests per missing key before giving up. Default 3. */
  readonly keyRequestAttempts?: number
  /** Key requests a publisher answers per requester per minute; more are refused. Default 60. */
  readonly maxRequestsPerMinute?: number
  /** Rotate each stream's key this often (ms) when publishing. Default: never automatically. */
  readonly rotationIntervalMs?: number
  /** Threshold custody of this publisher's keys with the stream's storage nodes. Default: on. */
  readonly custody?: KeyCustodyOptions
}

/** How long a key that couldn't be obtained isn't asked for again. */
const FAILED_KEY_MEMORY_MS = 30_000

interface CurrentKey {
  readonly key: GroupKey
  readonly createdAt: number
  /** Set by a rotation: the next message announces it (sealed with `key`) and then it takes over. */
  next?: GroupKey
}

interface PendingRequest {
  readonly publisherId: string
  readonly open: (response: GroupKeyResponse) => Promise<void>
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
  private readonly serving = new Set<StreamPartId>()
  private readonly listening = new Set<StreamPartId>()
  private readonly pending = new Map<string, PendingRequest>()
  private readonly inFlight = new Map<string, Promise<GroupKey>>()
  private readonly requestLog = new Map<string, number[]>()

  constructor(
    private readonly components: EncryptionLayerComponents,
    private readonly options: EncryptionOptions = {},
  ) {}

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
    if (current.next === undefined && rotation !== undefined && Date.now() - current.createdAt >= rotation) {
      current.next = GroupKey.generate()
      await this.components.keyStore.add(this.components.address, current.next)
    }
    const sealed = await current.key.encrypt(content)
    const next = current.next
    if (next === undefined) return { content: sealed, groupKeyId: current.key.id, newGroupKey: undefined }
    const newGroupKey = { id: next.id, data: await current.key.encryptNextKey(next) }
    this.keys.set(streamId, { key: next, createdAt: Date.now() })
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
    const current = { key, createdAt: Date.now() }
    this.keys.set(streamId, current)
    return current
  }

  /**
   * Answers key requests addressed to this client in a stream part. Called on
   * every join, not only on publishing: a restarted publisher with a
   * persistent key store answers for what it encrypted before.
   */
  serve(streamPartId: StreamPartId): void {
    if (this.serving.has(streamPartId)) return
    this.serving.add(streamPartId)
    this.components.node.addMessageListener(streamPartId, (message) => {
      // An answer that can't be sent (the client stopping meanwhile) is simply not sent: the requester asks again.
      if (message.messageType === MessageType.GroupKeyRequest) this.answer(message).catch(() => undefined)
    })
  }

  private async answer(message: StreamMessage): Promise<void> {
    let request
    try {
      request = parseGroupKeyRequest(parseJsonContent(message.content))
    } catch {
      return // malformed: nothing to answer, nobody to tell
    }
    if (request.recipient !== this.components.address) return
    const requester = message.publisherId
    const refuse = (code: GroupKeyErrorCode, text: string): Promise<void> =>
      this.respond(message.streamPartId, {
        requestId: request.requestId,
        recipient: requester,
        error: { code, message: text },
      })
    if (!this.allowRequest(requester)) {
      await refuse('RATE_LIMITED', 'too many key requests: try again in a minute')
      return
    }
    const { streamId } = splitStreamPartId(message.streamPartId)
    let permitted: boolean
    try {
      permitted = await this.components.maySubscribe(streamId, requester)
    } catch {
      return // the chain didn't answer: say nothing rather than refuse; the requester asks again
    }
    if (!permitted) {
      await refuse('NO_PERMISSION', `${requester} may not subscribe to ${streamId}`)
      return
    }
    let publicKey: Uint8Array
    try {
      publicKey = fromBase64(request.publicKey)
    } catch {
      return
    }
    const keys = []
    try {
      for (const id of request.groupKeyIds) {
        const key = await this.components.keyStore.get(this.components.address, id)
        if (key !== undefined) keys.push({ id, data: toBase64(await sealGroupKey(publicKey, key)) })
      }
    } catch {
      return // a public key that isn't a P-256 point: nothing can be sealed to it
    }
    if (keys.length === 0) {
      await refuse('UNKNOWN_KEYS', `no such keys: ${request.groupKeyIds.join(', ')}`)
      return
    }
    await this.respond(message.streamPartId, { requestId: request.requestId, recipient: requester, keys })
  }

  /** A sliding one-minute window per requester. */
  private allowRequest(requester: string): boolean {
    const now = Date.now()
    const recent = (this.requestLog.get(requester) ?? []).filter((at) => now - at < 60_000)
    const allowed = recent.length < (this.options.maxRequestsPerMinute ?? 60)
    if (allowed) recent.push(now)
    this.requestLog.set(requester, recent)
    return allowed
  }

  private async respond(streamPartId: StreamPartId, response: GroupKeyResponse): Promise<void> {
    await this.send(streamPartId, MessageType.GroupKeyResponse, response)
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
    const key = await this.keyFor(message.streamPartId, message.publisherId, keyId)
    const plaintext = await key.decrypt(message.content)
    if (message.newGroupKey !== undefined) {
      const next = await key.decryptNextKey(message.newGroupKey.id, message.newGroupKey.data)
      await this.components.keyStore.add(message.publisherId, next)
    }
    return plaintext
  }

  private async keyFor(streamPartId: StreamPartId, publisherId: string, keyId: string): Promise<GroupKey> {
    const stored = await this.components.keyStore.get(publisherId, keyId)
    if (stored !== undefined) return stored
    const flight = `${publisherId}/${keyId}`
    let request = this.inFlight.get(flight)
    if (request === undefined) {
      const custody = this.components.recoverFromCustody?.bind(this.components)
      // The publisher first; if it didn't give the key, the storage nodes' shares (custody/KeyCustody.ts).
      request = this.request(streamPartId, publisherId, keyId).catch(async (err: unknown) => {
        if (custody === undefined) throw err
        try {
          return await custody(streamPartId, publisherId, keyId)
        } catch (custodyErr) {
          throw joinKeyErrors(err, custodyErr)
        }
      })
      this.inFlight.set(flight, request)
      // A success is in the store from now on. A failure is remembered a while, so the
      // messages behind it fail at once instead of each asking again for a silent publisher.
      request.then(
        () => this.inFlight.delete(flight),
        () => setTimeout(() => this.inFlight.delete(flight), FAILED_KEY_MEMORY_MS).unref?.(),
      )
    }
    return request
  }

  private async request(streamPartId: StreamPartId, publisherId: string, keyId: string): Promise<GroupKey> {
    // Joining starts the client's node too (a resend alone never did).
    await this.components.join(streamPartId)
    this.listen(streamPartId)
    const { streamId } = splitStreamPartId(streamPartId)
    const attempts = this.options.keyRequestAttempts ?? 3
    for (let attempt = 0; attempt < attempts; attempt++) {
      const pair = await generateExchangeKeyPair()
      const requestId = randomHex(16)
      const answered = new Promise<GroupKey>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(requestId)
          reject(new ClientError('KEY_UNAVAILABLE', `${publisherId} didn't answer`))
        }, this.options.keyRequestTimeoutMs ?? 5_000)
        this.pending.set(requestId, {
          publisherId,
          open: async (response) => {
            clearTimeout(timer)
            this.pending.delete(requestId)
            if ('error' in response) {
              const reason =
                response.error.code === 'NO_PERMISSION'
                  ? `no permission to obtain the key for ${streamId} from ${publisherId}`
                  : `${publisherId} refused the key for ${streamId}: ${response.error.message}`
              reject(new ClientError('KEY_UNAVAILABLE', reason))
              return
            }
            try {
              for (const sealed of response.keys) {
                await this.components.keyStore.add(
                  publisherId,
                  await openGroupKey(pair, sealed.id, fromBase64(sealed.data)),
                )
              }
              const key = await this.components.keyStore.get(publisherId, keyId)
              if (key === undefined)
                throw new ClientError('KEY_UNAVAILABLE', `${publisherId} sent other keys than asked`)
              resolve(key)
            } catch (err) {
              reject(err instanceof ClientError ? err : new ClientError('KEY_UNAVAILABLE', String(err)))
            }
          },
        })
      })
      await this.send(streamPartId, MessageType.GroupKeyRequest, {
        requestId,
        recipient: publisherId,
        publicKey: toBase64(pair.publicKey),
        groupKeyIds: [keyId],
      })
      try {
        return await answered
      } catch (err) {
        // A refusal is final; silence may be a lost message or a publisher still joining: ask again.
        if (!(err instanceof ClientError) || !/didn't answer/.test(err.message) || attempt === attempts - 1) {
          throw err instanceof ClientError && /didn't answer/.test(err.message)
            ? new ClientError(
                'KEY_UNAVAILABLE',
                `couldn't obtain the key for ${streamId}: ${publisherId} didn't answer ${attempts} requests`,
              )
            : err
        }
      }
    }
    throw new ClientError('KEY_UNAVAILABLE', `couldn't obtain the key for ${streamId}`)
  }

  /** Takes key responses addressed to this client; one signed by anyone but the publisher asked is ignored. */
  private listen(streamPartId: StreamPartId): void {
    if (this.listening.has(streamPartId)) return
    this.listening.add(streamPartId)
    this.components.node.addMessageListener(streamPartId, (message) => {
      if (message.messageType !== MessageType.GroupKeyResponse) return
      let response: GroupKeyResponse
      try {
        response = parseGroupKeyResponse(parseJsonContent(message.content))
      } catch {
        return
      }
      if (response.recipient !== this.components.address) return
      const pending = this.pending.get(response.requestId)
      if (pending === undefined || pending.publisherId !== message.publisherId) return
      pending.open(response).catch(() => undefined) // open() settles the request itself; nothing else to tell
    })
  }

  private async send(streamPartId: StreamPartId, type: MessageType, content: unknown): Promise<void> {
    const { streamId, partition } = splitStreamPartId(streamPartId)
    const message = await signStreamMessage(
      {
        // A chain of its own per message: exchange messages are independent, and must never be deduplicated together.
        messageId: new MessageId(streamId, partition, Date.now(), 0, this.components.signer.address, randomHex(10)),
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

/** Both reasons a key couldn't be had, the publisher's and custody's, in one KEY_UNAVAILABLE (custody's error the cause). */
function joinKeyErrors(publisherErr: unknown, custodyErr: unknown): unknown {
  if (!(publisherErr instanceof ClientError) || !(custodyErr instanceof ClientError)) return publisherErr
  const reason = (err: ClientError): string => err.message.replace(/^[A-Z_]+: /, '')
  return new ClientError('KEY_UNAVAILABLE', `${reason(publisherErr)}; custody: ${reason(custodyErr)}`, {
    cause: custodyErr,
  })
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) => byte.toString(16).padStart(2, '0')).join(
    '',
  )
}
