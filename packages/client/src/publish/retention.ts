/** Retention of published messages until storage receipts cover them: the settings, and what is reported. */

/** How long the publisher side keeps messages that no storage receipt covers yet, and when it offers them again. */
export interface RetentionOptions {
  /** Messages kept per client, at most. Default 100,000. */
  readonly maxMessages?: number
  /** Bytes of message content kept, at most. Default 64 MiB. */
  readonly maxBytes?: number
  /** A message no receipt covered this long is dropped. Default 1 hour. */
  readonly maxAgeMs?: number
  /** A message no receipt covered this long is offered again to the stream's storage nodes. Default 30 s. */
  readonly reofferAfterMs?: number
}

/** Why a storage receipt was not taken; counted per reason. */
export type ReceiptRejection =
  /** Not a well-formed signed receipt, or its signature isn't its signer's. */
  | 'malformed'
  /** Carried by a message of someone other than its signer. */
  | 'signer-mismatch'
  /** Its signer is not a storage node of the stream, per the chain. */
  | 'not-storage-node'
  /** It names messages this client never published as it says: a range it never had, or a digest that doesn't match. */
  | 'unknown-messages'

/** What the publisher side has done so far, for metrics. */
export interface PublishLogStats {
  /** Messages kept now, waiting for a receipt. */
  readonly retainedMessages: number
  readonly retainedBytes: number
  /** Messages dropped at a bound before any receipt covered them, by bound. */
  readonly dropped: { readonly count: number; readonly bytes: number; readonly age: number }
  readonly receiptsAccepted: number
  /** Receipts about messages this client no longer keeps (another receipt covered them first). */
  readonly receiptsLate: number
  readonly receiptsRejected: Readonly<Record<ReceiptRejection, number>>
  /** Messages offered again to storage nodes. */
  readonly reoffered: number
}

/** A drop at a bound, reported once per sweep in which it happened. */
export interface RetentionDropEvent {
  readonly bound: 'count' | 'bytes' | 'age'
  readonly messages: number
}

/** The defaults of {@link RetentionOptions}. */
export const RETENTION_DEFAULTS = {
  maxMessages: 100_000,
  maxBytes: 64 * 1024 * 1024,
  maxAgeMs: 60 * 60 * 1000,
  reofferAfterMs: 30_000,
} as const

/** After its first receipt, a message waits this long for the stream's other storage nodes' receipts before it's forgotten. */
export const OTHER_NODES_GRACE_MS = 5_000
/** A message's fields besides its content, roughly, for the byte bound. */
export const OVERHEAD_BYTES = 200
/** A message is re-offered at most this often on catch-up requests: requests coming again and again cost a scan, not a flood. */
export const CATCH_UP_INTERVAL_MS = 2_000
/** An ended chain is remembered this long after its last message is forgotten, for late receipts. */
export const ENDED_CHAIN_MS = 60_000
/** A receipt from an address the cached list doesn't name re-reads the chain at most this often per stream. */
export const REFRESH_INTERVAL_MS = 5_000
