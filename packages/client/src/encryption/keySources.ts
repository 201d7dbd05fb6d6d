import { splitStreamPartId, systemClock, type Clock, type StreamPartId } from '@runnel/protocol'
import { ClientError } from '../errors.js'
import type { GroupKey } from './GroupKey.js'
import { openGroupKey, type ExchangeKeyPair } from './keyExchange.js'
import type { GroupKeyStore } from './KeyStore.js'
import { fromBase64, type GroupKeyResponse } from './messages.js'

/** One missing key, as a {@link GroupKeySource} is asked for it. */
export interface KeyFetch {
  readonly streamPartId: StreamPartId
  /** The publisher whose key it is (lowercase address). */
  readonly publisherId: string
  readonly keyId: string
  /**
   * Whether a candidate key opens a message the publisher signed with this key id. AES-GCM's tag makes a wrong key
   * fail, so a key that passes is the publisher's own whoever handed it over: this is how keys from anyone but the
   * publisher are trusted.
   */
  readonly verify: (key: GroupKey) => Promise<boolean>
}

/** What a source came back with: the key, a refusal, or nothing within its time. */
export type KeySourceResult =
  | { readonly found: GroupKey }
  /** `final`: no later source is asked (the chain said no: every honest source would refuse too). */
  | { readonly refused: string; readonly final: boolean; readonly cause?: unknown }
  /** `cause`: the source's own error, if it has one (the last source's becomes the report's cause). */
  | { readonly silent: string; readonly cause?: unknown }

/**
 * A place a missing group key may come from. The encryption layer asks its sources in order (the publisher, then any
 * holder, then whatever was added with `EncryptionLayer.addKeySource`) until one has the key; the first verified key
 * wins. A source must resolve (never hang): it bounds its own waiting.
 */
export interface GroupKeySource {
  /** For reports: who was asked. */
  readonly name: string
  fetch(request: KeyFetch): Promise<KeySourceResult>
}

/** What a key request goes out with (the channel adds the request id and the one-off public key). */
export interface KeyRequestContent {
  readonly recipient: string
  readonly groupKeyIds: readonly string[]
  readonly anyHolder?: true
}

/** Sends key requests into a stream part and hands their responses back. */
export interface KeyRequestChannel {
  /**
   * Sends one GroupKeyRequest (a fresh key pair and request id) and resolves with the first response that `take`
   * accepts (it returns undefined to ignore one and keep waiting), or undefined when none did within `timeoutMs`.
   */
  ask<T>(
    streamPartId: StreamPartId,
    content: KeyRequestContent,
    timeoutMs: number,
    take: (response: GroupKeyResponse, signer: string, pair: ExchangeKeyPair) => Promise<T | undefined>,
  ): Promise<T | undefined>
}

/** Bounds on silent-publisher memory: entries expire, and the map never grows past this. */
const MAX_SILENT_PUBLISHERS = 1_000

/**
 * Publishers that didn't answer lately, shared by the sources that address them: asking such a publisher alone
 * again, for another key, would only cost another timeout.
 */
export class SilentPublishers {
  private readonly until = new Map<string, number>()

  constructor(
    private readonly memoryMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  has(publisherId: string): boolean {
    return (this.until.get(publisherId) ?? 0) > this.clock.now()
  }

  add(publisherId: string): void {
    const now = this.clock.now()
    if (this.until.size >= MAX_SILENT_PUBLISHERS) {
      for (const [id, until] of this.until) if (until <= now) this.until.delete(id)
      if (this.until.size >= MAX_SILENT_PUBLISHERS) this.until.clear()
    }
    this.until.set(publisherId, now + this.memoryMs)
  }
}

/**
 * Asks the publisher itself: its answer is trusted for being signed by it, so every key in it is stored. A
 * publisher that didn't answer `attempts` requests is skipped (`silent`) for its other keys too: a publisher gone
 * for good then costs its timeouts once, not once per key.
 */
export function publisherKeySource(
  channel: KeyRequestChannel,
  keyStore: GroupKeyStore,
  silent: SilentPublishers,
  settings: { readonly attempts: number; readonly timeoutMs: number },
): GroupKeySource {
  return {
    name: 'publisher',
    async fetch({ streamPartId, publisherId, keyId }) {
      if (silent.has(publisherId)) {
        return { silent: `${publisherId} didn't answer a request lately (not asked alone again)` }
      }
      for (let attempt = 0; attempt < settings.attempts; attempt++) {
        const result = await channel.ask<KeySourceResult>(
          streamPartId,
          { recipient: publisherId, groupKeyIds: [keyId] },
          settings.timeoutMs,
          async (response, signer, pair) => {
            if (signer !== publisherId) return undefined // only the publisher's own answer counts here
            if ('error' in response) {
              return {
                refused:
                  response.error.code === 'NO_PERMISSION'
                    ? noPermission(streamPartId, publisherId)
                    : `${publisherId} refused: ${response.error.message}`,
                final: response.error.code === 'NO_PERMISSION',
              }
            }
            try {
              for (const sealed of response.keys) {
                await keyStore.add(publisherId, await openGroupKey(pair, sealed.id, fromBase64(sealed.data)))
              }
            } catch (err) {
              return { refused: `${publisherId}'s answer doesn't open: ${String(err)}`, final: false }
            }
            const key = await keyStore.get(publisherId, keyId)
            return key === undefined
              ? { refused: `${publisherId} sent other keys than asked`, final: false }
              : { found: key }
          },
        )
        if (result !== undefined) return result
      }
      silent.add(publisherId)
      return {
        silent: `${publisherId} didn't answer ${settings.attempts} request${settings.attempts === 1 ? '' : 's'}`,
      }
    },
  }
}

/**
 * Asks the publisher or any client in the stream part that holds the key (`anyHolder`). Holders check the
 * requester's subscribe permission on chain as the publisher does and answer only with keys, never with a refusal,
 * so silence is all a requester without permission gets. An answer is taken from anyone, but only a key that opens
 * the publisher's signed message counts; one that doesn't is ignored and the wait goes on.
 */
export function holderKeySource(
  channel: KeyRequestChannel,
  silent: SilentPublishers,
  settings: { readonly attempts: number; readonly timeoutMs: number },
): GroupKeySource {
  return {
    name: 'holders',
    async fetch({ streamPartId, publisherId, keyId, verify }) {
      for (let attempt = 0; attempt < settings.attempts; attempt++) {
        const result = await channel.ask<KeySourceResult>(
          streamPartId,
          { recipient: publisherId, groupKeyIds: [keyId], anyHolder: true },
          settings.timeoutMs,
          async (response, signer, pair) => {
            if ('error' in response) {
              // The publisher answers an anyHolder request too; its "no" is the chain's. Nobody else's refusal counts.
              if (signer !== publisherId || response.error.code !== 'NO_PERMISSION') return undefined
              return { refused: noPermission(streamPartId, publisherId), final: true }
            }
            const sealed = response.keys.find((candidate) => candidate.id === keyId)
            if (sealed === undefined) return undefined
            let key: GroupKey
            try {
              key = await openGroupKey(pair, keyId, fromBase64(sealed.data))
            } catch {
              return undefined
            }
            return (await verify(key)) ? { found: key } : undefined
          },
        )
        if (result !== undefined) return result
      }
      if (settings.attempts === 0) return { silent: 'holders not asked' }
      // The publisher, asked too, said nothing either: it stays skipped for its next keys.
      silent.add(publisherId)
      return {
        silent: `neither it nor a holder answered ${settings.attempts} request${settings.attempts === 1 ? '' : 's'}`,
      }
    },
  }
}

function noPermission(streamPartId: StreamPartId, publisherId: string): string {
  return `no permission to obtain the key for ${splitStreamPartId(streamPartId).streamId} from ${publisherId}`
}

/** The report when no source had the key: each source's reason, in the order asked. */
export function keyUnavailable(
  streamId: string,
  keyId: string,
  reasons: readonly string[],
  cause?: unknown,
): ClientError {
  return new ClientError(
    'KEY_UNAVAILABLE',
    `couldn't obtain the key ${keyId} for ${streamId}: ${reasons.join('; ')}`,
    cause === undefined ? undefined : { cause },
  )
}
