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
  /** Records per key stored from one network group (the storing connection's subnet). Default unlimited. */
  readonly maxRecordsPerSubnetPerKey?: number
}

/** Why a valid record was not stored. */
export type StoreRefusal = 'stale-sequence' | 'key-full' | 'subnet-full' | 'store-full'

interface Stored {
  readonly record: SignedRecord
  readonly dropAt: number
  /** Network group of the connection that stored it (see `subnetGroup`); undefined when exempt or local. */
  readonly group: string | undefined
}

/**
 * The records a node holds for others: at most one per owner and key (the
 * highest sequence), `maxRecordsPerKey` per key and `maxRecords` in all.
 * When a key is full, newcomers are refused rather than replacing anyone:
 * a flood of fresh records can't push out the ones already there, and
 * owners that stop refreshing expire. Records must be validated before.
 * Records stored from one network group (the storing connection's /24 or
 * /48) are capped per key too, so many identities from one address range
 * can't be the ones filling a key.
 */
export class RecordStore {
  private readonly byKey = new Map<string, Map<NodeId, Stored>>()
  private count = 0

  constructor(private readonly options: RecordStoreOptions) {}

  get size(): number {
    return this.count
  }

  /**
   * Stores `record` (already verified) or says why not. `group` is the
   * network group of the connection it came from (undefined: exempt, or this
   * node's own record).
   */
  put(record: SignedRecord, now: number, group?: string): 'stored' | StoreRefusal {
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
        // Emptied by the sweep, the key's map left the store: a new one is made below.
        if (owners.size === 0) owners = undefined
      }
      if (group !== undefined && owners !== undefined && this.options.maxRecordsPerSubnetPerKey !== undefined) {
        let same = 0
        for (const [owner, stored] of owners) {
          if (owner !== record.owner && stored.group === group && stored.dropAt > now) same++
        }
        if (same >= this.options.maxRecordsPerSubnetPerKey) return 'subnet-full'
      }
      if (existing === undefined && this.count >= this.options.maxRecords) {
        this.sweep(now)
        owners = this.byKey.get(keyHex)
        if (this.count >= this.options.maxRecords) return 'store-full'
      }
    }
    if (owners === undefined) {
      owners = new Map()
      this.byKey.set(keyHex, owners)
    }
    // Not `existing`: a sweep above may have dropped it (expired) meanwhile.
    if (!owners.has(record.owner)) this.count++
    owners.set(record.owner, {
      record,
      dropAt: Math.min(record.expiresAt, now + this.options.maxRecordTtlMs),
      group,
    })
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
