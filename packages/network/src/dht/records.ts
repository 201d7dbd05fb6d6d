import {
  addressFromBytes,
  addressToBytes,
  checkSignatureFormat,
  keccak256,
  type MessageSigner,
  type SignatureVerifier,
} from '@runnel/protocol'
import type { SignedDhtRecord } from '../generated/runnel/network/v1/network_pb.js'
import type { NodeId } from '../identity.js'
import { DHT_KEY_LENGTH, keysEqual } from './keys.js'

/** A value stored under a key by its owner, as {@link DhtNode.findRecords} returns it. */
export interface DhtRecord {
  /** 20 bytes. */
  readonly key: Uint8Array
  /** The node that signed it. */
  readonly owner: NodeId
  /** Opaque to the DHT, at most {@link MAX_RECORD_VALUE_BYTES}. */
  readonly value: Uint8Array
  /** Milliseconds since the epoch; storers refuse records expiring later than their `maxRecordTtlMs` allows. */
  readonly expiresAt: number
  /** Newer replaces older from the same owner. */
  readonly sequence: bigint
  /**
   * The node whose answer carried it; undefined for one from this node's own
   * store. The storer heard from the owner when it stored the record, so it
   * may still be connected to it (a route for WebRTC signals).
   */
  readonly from?: NodeId
}

/** A record with its owner's signature, as stored and carried. */
export interface SignedRecord extends DhtRecord {
  readonly signature: Uint8Array
}

/** Largest value a record may carry. */
export const MAX_RECORD_VALUE_BYTES = 1024
/** How far a record's expiry may lie beyond a storer's `maxRecordTtlMs`, for clocks that disagree. */
export const RECORD_CLOCK_SKEW_MS = 60_000
const MAX_UINT64 = (1n << 64n) - 1n

/** Why a record was refused. */
export type RecordRefusal =
  | 'bad-key'
  | 'key-mismatch'
  | 'bad-owner'
  | 'oversized'
  | 'expired'
  | 'ttl-too-long'
  | 'bad-sequence'
  | 'bad-signature'
  | 'owner-mismatch'

const RECORD_TAG = new TextEncoder().encode('runnel/v1/dht-record\0')

/**
 * What the owner signs (with `personal_sign`): keccak256 over the tagged
 * record, so a record signature can't be replayed as a handshake proof or a
 * message signature, and every field is bound.
 */
export function createRecordDigest(record: DhtRecord): Uint8Array {
  const fixed = new Uint8Array(DHT_KEY_LENGTH + 20 + 8 + 8)
  fixed.set(record.key, 0)
  fixed.set(addressToBytes(record.owner), DHT_KEY_LENGTH)
  const view = new DataView(fixed.buffer)
  view.setBigUint64(DHT_KEY_LENGTH + 20, BigInt(record.expiresAt))
  view.setBigUint64(DHT_KEY_LENGTH + 28, record.sequence)
  return keccak256(RECORD_TAG, fixed, record.value)
}

/** Signs a record as `signer`'s. */
export async function signRecord(signer: MessageSigner, record: Omit<DhtRecord, 'owner'>): Promise<SignedRecord> {
  const unsigned: DhtRecord = { ...record, owner: signer.address }
  const signature = await signer.signPersonalMessage(createRecordDigest(unsigned))
  return { ...unsigned, signature }
}

export function recordToProto(record: SignedRecord): Omit<SignedDhtRecord, '$typeName'> {
  return {
    key: record.key,
    owner: addressToBytes(record.owner),
    value: record.value,
    expiresAt: BigInt(record.expiresAt),
    sequence: record.sequence,
    signature: record.signature,
  }
}

/** Limits a received record is checked against. */
export interface RecordCheck {
  readonly now: number
  readonly maxRecordTtlMs: number
  readonly verifier: SignatureVerifier
  /** The key the record was asked for or sent with. */
  readonly key: Uint8Array
  /** Signers recovered before; the record's is looked up here first, and kept. */
  readonly recovered?: RecoveredSigners
  /** The node the record came from, set on it as `from`. */
  readonly from?: NodeId
}

/**
 * Signers already recovered from record signatures, by digest and signature.
 * A lookup hears the same records from each node it asks near the key, and
 * recovering every copy's signature again was most of a trackerless join's
 * CPU (2,000-node scale run, issue 15: 60% of all signature recoveries).
 * Recovery is a function of the digest and the signature alone, so a hit
 * answers exactly as recovering would. Bounded: past `capacity` entries
 * (about 150 bytes each) the oldest goes.
 */
export class RecoveredSigners {
  private readonly signers = new Map<string, NodeId | undefined>()

  constructor(private readonly capacity = 32) {}

  recover(verifier: SignatureVerifier, digest: Uint8Array, signature: Uint8Array): NodeId | undefined {
    // One byte per character: a flat string half the size of its hex, and the map holds up to `capacity` of them.
    const id = String.fromCharCode(...digest, ...signature)
    if (this.signers.has(id)) return this.signers.get(id)
    const signer = verifier.recoverPersonalMessageSigner(digest, signature)
    this.signers.set(id, signer)
    if (this.signers.size > this.capacity) this.signers.delete(this.signers.keys().next().value!)
    return signer
  }
}

export type RecordResult =
  { readonly ok: true; readonly record: SignedRecord } | { readonly ok: false; readonly reason: RecordRefusal }

/**
 * Validates a received record: shape and limits first (cheap), the signature
 * last. Every field comes from an untrusted peer.
 */
export function recordFromProto(proto: SignedDhtRecord | undefined, check: RecordCheck): RecordResult {
  if (proto === undefined || proto.key.length !== DHT_KEY_LENGTH) return refuse('bad-key')
  if (!keysEqual(proto.key, check.key)) return refuse('key-mismatch')
  if (proto.owner.length !== 20) return refuse('bad-owner')
  if (proto.value.length > MAX_RECORD_VALUE_BYTES) return refuse('oversized')
  if (proto.sequence > MAX_UINT64 || proto.expiresAt > BigInt(Number.MAX_SAFE_INTEGER)) return refuse('bad-sequence')
  const expiresAt = Number(proto.expiresAt)
  if (expiresAt <= check.now) return refuse('expired')
  if (expiresAt > check.now + check.maxRecordTtlMs + RECORD_CLOCK_SKEW_MS) return refuse('ttl-too-long')
  try {
    checkSignatureFormat(proto.signature)
  } catch {
    return refuse('bad-signature')
  }
  const record: SignedRecord = {
    key: proto.key,
    owner: addressFromBytes(proto.owner),
    value: proto.value,
    expiresAt,
    sequence: proto.sequence,
    signature: proto.signature,
    ...(check.from === undefined ? {} : { from: check.from }),
  }
  const digest = createRecordDigest(record)
  const signer =
    check.recovered === undefined
      ? check.verifier.recoverPersonalMessageSigner(digest, record.signature)
      : check.recovered.recover(check.verifier, digest, record.signature)
  if (signer === undefined) return refuse('bad-signature')
  if (signer !== record.owner) return refuse('owner-mismatch')
  return { ok: true, record }
}

function refuse(reason: RecordRefusal): RecordResult {
  return { ok: false, reason }
}
