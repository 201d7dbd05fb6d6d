// The collection after a load, on a hand-driven clock: it runs once a load is
// followed by idleness, never during the load, never more often than its
// interval, and never without a load.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock } from '@runnel/protocol'
import { CollectAfterLoad, fullCollector } from '../../src/plugins/fanout/CollectAfterLoad.js'

const MIB = 1024 * 1024
const options = { minLoadBytes: 32 * MIB, idleMs: 2_000, minIntervalMs: 10_000 }

function setup(): { clock: ManualClock; afterLoad: CollectAfterLoad; collected: number[] } {
  const clock = new ManualClock(1_000_000)
  const collected: number[] = []
  const afterLoad = new CollectAfterLoad(options, { clock, collect: () => collected.push(clock.now()) })
  return { clock, afterLoad, collected }
}

/** Sends `bytes` in 1 MiB pieces, one piece every `everyMs`. */
function load(clock: ManualClock, afterLoad: CollectAfterLoad, bytes: number, everyMs = 100): void {
  for (let sent = 0; sent < bytes; sent += MIB) {
    afterLoad.noteSent(MIB)
    clock.advance(everyMs)
  }
}

describe('CollectAfterLoad', () => {
  it('collects once after a load of at least minLoadBytes followed by idleMs with nothing sent', () => {
    const { clock, afterLoad, collected } = setup()
    load(clock, afterLoad, 40 * MIB)
    const endOfLoad = clock.now()
    clock.advance(60_000)
    assert.equal(collected.length, 1)
    assert.ok(collected[0]! - endOfLoad >= options.idleMs, 'not before the sending had stopped for idleMs')
    assert.equal(afterLoad.collections, 1)
  })

  it('does not collect while sending goes on, however long', () => {
    const { clock, afterLoad, collected } = setup()
    load(clock, afterLoad, 600 * MIB, 500)
    assert.deepEqual(collected, [])
    clock.advance(options.idleMs * 2)
    assert.equal(collected.length, 1)
  })

  it('does not collect more often than minIntervalMs, and collects after the interval for a load within it', () => {
    const { clock, afterLoad, collected } = setup()
    load(clock, afterLoad, 32 * MIB)
    clock.advance(options.idleMs * 2)
    assert.equal(collected.length, 1)
    load(clock, afterLoad, 32 * MIB, 10)
    clock.advance(options.idleMs * 2)
    assert.equal(collected.length, 1, 'the second load ended within the interval')
    clock.advance(options.minIntervalMs)
    assert.equal(collected.length, 2)
    assert.ok(collected[1]! - collected[0]! >= options.minIntervalMs)
  })

  it('does not collect without a load, and counts a load from the last collection', () => {
    const { clock, afterLoad, collected } = setup()
    load(clock, afterLoad, 31 * MIB)
    clock.advance(60_000)
    assert.deepEqual(collected, [])
    assert.equal(clock.pendingTimers, 0, 'nothing is scheduled below a load')
    load(clock, afterLoad, 1 * MIB)
    clock.advance(60_000)
    assert.equal(collected.length, 1)
    load(clock, afterLoad, 16 * MIB)
    clock.advance(60_000)
    assert.equal(collected.length, 1, 'half a load after the collection')
  })

  it('collects nothing once disposed, and schedules nothing without a collector', () => {
    const { clock, afterLoad, collected } = setup()
    load(clock, afterLoad, 40 * MIB)
    afterLoad.dispose()
    clock.advance(60_000)
    assert.deepEqual(collected, [])
    const without = new CollectAfterLoad(options, { clock, collect: undefined })
    without.noteSent(64 * MIB)
    assert.equal(clock.pendingTimers, 0)
  })

  it('finds a full collector in this Node.js, and running it keeps live objects', () => {
    const collect = fullCollector()
    assert.equal(typeof collect, 'function')
    const kept = { value: Buffer.alloc(1024, 7) }
    collect!()
    assert.equal(kept.value[1023], 7)
  })
})
