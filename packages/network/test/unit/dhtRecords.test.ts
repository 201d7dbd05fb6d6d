// DHT records: what a storer and a finder accept (the owner's signature over
// every field, limits on size and expiry) and how the store keeps them (one
// per owner and key, the newest sequence, bounded per key and in all).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create } from '@bufbuild/protobuf'
import { SignedDhtRecordSchema } from '../../src/generated/runnel/network/v1/network_pb.js'
import { keyToNodeId } from '../../src/dht/keys.js'
import {
  MAX_RECORD_VALUE_BYTES,
  RECORD_CLOCK_SKEW_MS,
  recordFromProto,
  recordToProto,
  signRecord,
  type SignedRecord,
} from '../../src/dht/records.js'
import { RecordStore } from '../../src/dht/RecordStore.js'
import { newSigner, verifier } from '../helpers.js'

const NOW = 1_000_000
const TTL = 60_000
const KEY = new Uint8Array(20).fill(7)
const check = { now: NOW, maxRecordTtlMs: TTL, verifier, key: KEY }

async function signed(
  overrides: Partial<{ value: Uint8Array; expiresAt: number; sequence: bigint; key: Uint8Array }> = {},
  signer = newSigner(),
): Promise<SignedRecord> {
  return signRecord(signer, {
    key: overrides.key ?? KEY,
    value: overrides.value ?? new Uint8Array([1, 2, 3]),
    expiresAt: overrides.expiresAt ?? NOW + 10_000,
    sequence: overrides.sequence ?? 1n,
  })
}

function proto(record: SignedRecord, changes: Partial<ReturnType<typeof recordToProto>> = {}) {
  return create(SignedDhtRecordSchema, { ...recordToProto(record), ...changes })
}

describe('DHT record validation', () => {
  it('accepts a record signed by its owner', async () => {
    const record = await signed()
    const result = recordFromProto(proto(record), check)
    assert.ok(result.ok)
    assert.equal(result.record.owner, record.owner)
    assert.equal(result.record.sequence, 1n)
  })

  it('refuses a record whose signature is another key’s (owner mismatch)', async () => {
    const record = await signed()
    const other = newSigner()
    assert.deepEqual(recordFromProto(proto(record, { owner: new Uint8Array(20).fill(9) }), check), {
      ok: false,
      reason: 'owner-mismatch',
    })
    const forged = await signed({}, other)
    assert.deepEqual(recordFromProto(proto(forged, { owner: proto(record).owner }), check), {
      ok: false,
      reason: 'owner-mismatch',
    })
  })

  it('refuses a record whose fields changed after signing', async () => {
    const record = await signed()
    for (const changes of [{ value: new Uint8Array([9]) }, { sequence: 2n }, { expiresAt: BigInt(NOW + 20_000) }]) {
      const result = recordFromProto(proto(record, changes), check)
      assert.deepEqual(result, { ok: false, reason: 'owner-mismatch' }, JSON.stringify(Object.keys(changes)))
    }
  })

  it('refuses a malformed signature, a bad key, another key than asked, a short owner', async () => {
    const record = await signed()
    assert.equal(recordFromProto(proto(record, { signature: new Uint8Array(10) }), check).ok, false)
    assert.deepEqual(recordFromProto(proto(record, { signature: new Uint8Array(65) }), check), {
      ok: false,
      reason: 'bad-signature',
    })
    assert.deepEqual(recordFromProto(proto(record, { key: new Uint8Array(19) }), check), {
      ok: false,
      reason: 'bad-key',
    })
    assert.deepEqual(recordFromProto(proto(record), { ...check, key: new Uint8Array(20) }), {
      ok: false,
      reason: 'key-mismatch',
    })
    assert.deepEqual(recordFromProto(proto(record, { owner: new Uint8Array(3) }), check), {
      ok: false,
      reason: 'bad-owner',
    })
    assert.deepEqual(recordFromProto(undefined, check), { ok: false, reason: 'bad-key' })
  })

  it('refuses a value over 1 KiB, an expired record and an expiry beyond the ttl cap', async () => {
    const big = await signed({ value: new Uint8Array(MAX_RECORD_VALUE_BYTES + 1) })
    assert.deepEqual(recordFromProto(proto(big), check), { ok: false, reason: 'oversized' })
    const full = await signed({ value: new Uint8Array(MAX_RECORD_VALUE_BYTES) })
    assert.ok(recordFromProto(proto(full), check).ok, 'exactly 1 KiB is fine')
    const expired = await signed({ expiresAt: NOW })
    assert.deepEqual(recordFromProto(proto(expired), check), { ok: false, reason: 'expired' })
    const tooLong = await signed({ expiresAt: NOW + TTL + RECORD_CLOCK_SKEW_MS + 1 })
    assert.deepEqual(recordFromProto(proto(tooLong), check), { ok: false, reason: 'ttl-too-long' })
  })
})

describe('RecordStore', () => {
  it('keeps one record per owner and key, the newest sequence; refuses an older one', async () => {
    const store = new RecordStore({ maxRecordsPerKey: 4, maxRecords: 100, maxRecordTtlMs: TTL })
    const signer = newSigner()
    const second = await signed({ sequence: 2n, value: new Uint8Array([2]) }, signer)
    const first = await signed({ sequence: 1n, value: new Uint8Array([1]) }, signer)
    assert.equal(store.put(second, NOW), 'stored')
    assert.equal(store.put(first, NOW), 'stale-sequence')
    assert.equal(store.put(second, NOW), 'stored', 'the same record again is fine')
    const third = await signed({ sequence: 3n, value: new Uint8Array([3]) }, signer)
    assert.equal(store.put(third, NOW), 'stored')
    assert.deepEqual(
      store.get(KEY, NOW).map((record) => [...record.value]),
      [[3]],
    )
    assert.equal(store.size, 1)
  })

  it('refuses new owners on a full key and in a full store, and makes room as records expire', async () => {
    const store = new RecordStore({ maxRecordsPerKey: 2, maxRecords: 3, maxRecordTtlMs: TTL })
    assert.equal(store.put(await signed({ expiresAt: NOW + 100 }), NOW), 'stored')
    assert.equal(store.put(await signed(), NOW), 'stored')
    assert.equal(store.put(await signed(), NOW), 'key-full')
    const otherKey = new Uint8Array(20).fill(8)
    assert.equal(store.put(await signed({ key: otherKey }), NOW), 'stored')
    assert.equal(store.put(await signed({ key: new Uint8Array(20).fill(9) }), NOW), 'store-full')
    // The first record expired: its slot frees.
    assert.equal(store.get(KEY, NOW + 100).length, 1)
    assert.equal(store.put(await signed({ expiresAt: NOW + 10_000 }), NOW + 100), 'stored')
    assert.equal(store.size, 3)
  })

  it('drops a record at most maxRecordTtlMs after storing it', async () => {
    const store = new RecordStore({ maxRecordsPerKey: 2, maxRecords: 10, maxRecordTtlMs: 1_000 })
    assert.equal(store.put(await signed({ expiresAt: NOW + 50_000 }), NOW), 'stored')
    assert.equal(store.get(KEY, NOW + 999).length, 1)
    assert.equal(store.get(KEY, NOW + 1_000).length, 0)
    store.sweep(NOW + 1_000)
    assert.equal(store.size, 0)
  })

  it('names owners by their address', async () => {
    const signer = newSigner()
    const record = await signed({}, signer)
    assert.equal(record.owner, signer.address)
    assert.equal(keyToNodeId(recordToProto(record).owner), signer.address)
  })
})
