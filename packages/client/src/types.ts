import type { RetentionDropEvent } from './publish/PublishLog.js'
import type { StreamMessage } from '@runnel/protocol'
import type { HistoryQuery } from './storage/historyRequests.js'

/** A stream part to publish to or subscribe to: a stream id (or `/path` of your own) and an optional partition. */
export type StreamTarget = string | { readonly id: string; readonly partition?: number }

export interface PublishOptions {
  /** Milliseconds since the epoch. Default now. */
  readonly timestamp?: number
  /** Messages with the same key go to the same partition (stable hash onto the stream's partitions). */
  readonly partitionKey?: string | number
  /** Name a chain yourself to publish several independent ordered sequences. Default: one chain per stream part. */
  readonly msgChainId?: string
  /**
   * Encrypt the content end to end. Default: yes unless the stream is publicly
   * subscribable (then encryption would protect nothing).
   */
  readonly encrypt?: boolean
  /**
   * When the publish counts as done. `'accepted'` (default): this client's network node took the message and sent it
   * on. `'stored'`: also `minStorageNodes` storage nodes of the stream sent signed receipts saying they committed it
   * durably; the stream must have that many storage nodes.
   */
  readonly ack?: AckLevel
  /** With `ack: 'stored'`: how many distinct storage nodes must confirm. Default 1. */
  readonly minStorageNodes?: number
  /** With `ack: 'stored'`: how long to wait for the receipts before failing with `NOT_STORED`. Default 10,000 ms. */
  readonly ackTimeoutMs?: number
  /**
   * Called once the message is accepted (signed and sent), before a `stored` ack resolves: lets a caller that must
   * keep messages in order publish the next one without waiting for storage.
   */
  readonly onAccepted?: (message: PublishedMessage) => void
  /**
   * Gives up waiting: the call rejects with `ClientError` `ABORTED`. Before the message is sent, nothing is sent;
   * after (an `ack: 'stored'` wait), the message stays published and the wait for receipts ends.
   */
  readonly signal?: AbortSignal
}

/** See {@link PublishOptions.ack}. */
export type AckLevel = 'accepted' | 'stored'

/** The default of {@link PublishOptions.ackTimeoutMs}. */
export const DEFAULT_ACK_TIMEOUT_MS = 10_000

/** Identifies a published message. */
export interface PublishedMessage {
  readonly streamId: string
  readonly partition: number
  readonly timestamp: number
  readonly sequenceNumber: number
  readonly publisherId: string
  readonly msgChainId: string
}

/** A message as the app receives it: validated, in order per publisher chain. */
export interface ReceivedMessage extends PublishedMessage {
  /** Parsed JSON, or the bytes for binary content. */
  readonly content: unknown
  /** The signed message itself. */
  readonly streamMessage: StreamMessage
}

/** A stretch of a publisher's chain that never arrived within the wait. */
export interface GapEvent {
  readonly streamPartId: string
  readonly publisherId: string
  readonly msgChainId: string
  /** Last message received before the gap ("timestamp:sequence"), if any. */
  readonly from: string | undefined
  /** The missing message the next one pointed back to. */
  readonly to: string
}

/** A message dropped before it reached the app, and why. */
export interface InvalidMessageEvent {
  readonly streamPartId: string
  readonly publisherId: string
  /**
   * `timestamp-in-future`: stamped more than `maxClockSkewMs` ahead of the receiving client's clock.
   * `invalid-signature`: not signed by its publisher; for an ERC-1271 publisher (`streamMessage.signatureType` 2),
   * its wallet refused the signature.
   */
  readonly reason: 'invalid-signature' | 'no-publish-permission' | 'timestamp-in-future'
  readonly streamMessage: StreamMessage
}

/** What a client reports besides messages. */
export interface ClientEvents {
  gap: (event: GapEvent) => void
  invalidMessage: (event: InvalidMessageEvent) => void
  error: (error: Error) => void
  /** Published messages no storage receipt covered were dropped at a retention bound (see `retention`). */
  retentionDrop: (event: RetentionDropEvent) => void
}

/** Options of `subscribe()`. */
export interface SubscribeOptions {
  /** Deliver stored history first (from the stream's storage nodes), then live messages, with no duplicate or gap at the seam. */
  readonly resend?: HistoryQuery
  /**
   * Called when the history of `resend` can't be read (every storage node
   * failed, or none stores the stream); live messages go on. Default: the
   * client's `error` event.
   */
  readonly onResendError?: (error: Error) => void
  /**
   * Check the client's own subscribe permission first. Default true. Storage
   * nodes turn it off: the stream's owner assigned them, which is permission enough.
   */
  readonly checkPermission?: boolean
  /**
   * Deliver messages as signed, without decrypting: `content` is then the
   * ciphertext bytes of an encrypted message. Storage nodes store this way.
   */
  readonly raw?: boolean
  /**
   * Deliver messages whose group key couldn't be obtained as they are (`content`: the ciphertext bytes;
   * `streamMessage.encryptionType` says AES), after the `KEY_UNAVAILABLE` report, instead of dropping them. Default
   * false. Either way such a message keeps its place in its chain: it causes no gap.
   */
  readonly deliverUndecryptable?: boolean
  /**
   * Deliver each valid message as it arrives, not held back in publisher-chain order, with no gap detection nor gap
   * filling. Default true (ordered). Storage nodes turn it off: they store in any order, and a message held behind
   * a gap would be a message not stored (nor acknowledged) yet.
   */
  readonly ordered?: boolean
  /**
   * Gives up the subscribe call (its permission check, the wait to join the stream parts): it rejects with
   * `ClientError` `ABORTED`, and the stream parts it joined are left again unless something else needs them. Once
   * `subscribe` has resolved, the signal has no effect: end the subscription with `unsubscribe`.
   */
  readonly signal?: AbortSignal
}

/** Options of calls that only wait (`resend`, `waitForStorage`, chain writes). */
export interface WaitOptions {
  /**
   * Gives up the wait: the call rejects with `ClientError` `ABORTED`, and its timers, listeners and requests end.
   * A chain transaction already sent still happens: only the wait for its receipt ends.
   */
  readonly signal?: AbortSignal
}
