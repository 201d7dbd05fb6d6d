import type { NodeId } from '../identity.js'
import { keyToHex, keysEqual } from './keys.js'
import type { SignedRecord } from './records.js'

export interface RecordStoreOptions {
  /** Records per key, one per owner. */
  readonly maxRecordsPerKey: number
  /** Records in all. */
  readonly maxRecords: number
  /** A record is dropped this long after it was stored at the latest, whatever its own expiry says. */
  readonly maxRecordTtlMs: number
}

/** Why a valid record was not stored. */
export type StoreRefusal = 'stale-sequence' | 'key-full' | 'store-full'

interface Stored {
  readonly record: SignedRecord
  readonly dropAt: number
}

/**
 * The records a node holds for others: at most one per owner and key (the
 * highest sequence), `maxRecordsPerKey` per key and `maxRecords` in all.
 * When a key is full, newcomers are refused rather than replacing anyone:
 * a flood of fresh records can't push out the ones already there, and
 * owners that stop refreshing expire. Records must be validated before.
 */
export class RecordStore {
  private readonly byKey = new Map<string, Map<NodeId, Stored>>()
  private count = 0

  constructor(private readonly options: RecordStoreOptions) {}

  get size(): number {
    return this.count
  }

  /** Stores `record` (already verified) or says why not. */
  put(record: SignedRecord, now: number): 'stored' | StoreRefusal {
    const keyHex = keyToHex(record.key)
    let owners = this.byKey.get(keyHex)
    const existing = owners?.get(record.owner)
    if (existing !== undefined && existing.dropAt > now) {
      if (record.sequence < existing.record.sequence) return 'stale-sequence'
      if (record.sequence === existing.record.sequence && !keysEqual(record.signature, existing.record.signature)) {
        return 'stale-sequence'
      }
    } else {
      if (existing === undefined && owners !== undefined && owners.size >= this.options.maxRecordsPerKey) {
        this.sweepKey(keyHex, owners, now)
        if (owners.size >= this.options.maxRecordsPerKey) return 'key-full'
      }
      if (existing === undefined && this.count >= this.options.maxRecords) {
        this.sweep(now)
        if (this.count >= this.options.maxRecords) return 'store-full'
      }
    }
    if (owners === undefined) {
      owners = new Map()
      this.byKey.set(keyHex, owners)
    }
    if (existing === undefined) this.count++
    owners.set(record.owner, { record, dropAt: Math.min(record.expiresAt, now + this.options.maxRecordTtlMs) })
    return 'stored'
  }

  /** The unexpired records under `key`. */
  get(key: Uint8Array, now: number): SignedRecord[] {
    const owners = this.byKey.get(keyToHex(key))
    if (owners === undefined) return []
    const records: SignedRecord[] = []
    for (const stored of owners.values()) if (stored.dropAt > now) records.push(stored.record)
    return records
  }

  /** Drops every expired record. */
  sweep(now: number): void {
    for (const [keyHex, owners] of this.byKey) this.sweepKey(keyHex, owners, now)
  }

  private sweepKey(keyHex: string, owners: Map<NodeId, Stored>, now: number): void {
    for (const [owner, stored] of owners) {
      if (stored.dropAt <= now) {
        owners.delete(owner)
        this.count--
      }
    }
    if (owners.size === 0) this.byKey.delete(keyHex)
  }
}
