import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TokenBucket } from '../../src/connection/TokenBucket.js'

/** A clock the test moves by hand. */
class ManualClock {
  time = 1_000_000
  readonly now = (): number => this.time

  advance(ms: number): void {
    this.time += ms
  }
}

/** How many single tokens can be taken right now (takes them all). */
function drain(bucket: TokenBucket): number {
  let taken = 0
  while (bucket.take(1)) {
    taken++
    if (taken > 1_000_000) throw new Error('bucket never ran dry')
  }
  return taken
}

describe('TokenBucket', () => {
  it('starts full: allows a burst of `burst` tokens, then refuses', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(10, 5, clock.now)
    assert.equal(drain(bucket), 5)
    assert.equal(bucket.take(1), false)
  })

  it('takes nothing when it refuses', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(10, 5, clock.now)
    assert.equal(bucket.take(3), true)
    assert.equal(bucket.take(3), false, 'only 2 left')
    assert.equal(bucket.take(2), true, 'the refused take did not consume the 2')
    assert.equal(bucket.take(1), false)
  })

  it('refills at ratePerSecond as the clock advances', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(10, 5, clock.now)
    drain(bucket)
    clock.advance(99)
    assert.equal(bucket.take(1), false, '0.99 tokens after 99 ms')
    clock.advance(1)
    assert.equal(bucket.take(1), true, '1 token after 100 ms')
    assert.equal(bucket.take(1), false)
    clock.advance(250)
    assert.equal(drain(bucket), 2, '2.5 tokens after another 250 ms')
    clock.advance(50)
    assert.equal(bucket.take(1), true, 'the half token left over counts')
  })

  it('never holds more than `burst`, however long it was idle', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(10, 5, clock.now)
    drain(bucket)
    clock.advance(3_600_000)
    assert.equal(drain(bucket), 5)
  })

  it('allows ratePerSecond on average over a long run', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(100, 20, clock.now)
    let taken = 0
    for (let ms = 0; ms < 10_000; ms++) {
      clock.advance(1)
      while (bucket.take(1)) taken++
    }
    // Tokens accrue in binary fractions (0.1 per ms here), so a token due exactly on a
    // millisecond boundary may arrive one tick late; the long-run rate is what counts.
    const expected = 20 + 100 * 10
    assert.ok(taken <= expected && taken >= expected - 1, `took ${taken}, expected about ${expected}`)
  })

  it('takes amounts larger than one, and never more than the burst at once', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(1_000, 1_500, clock.now)
    assert.equal(bucket.take(1_501), false)
    assert.equal(bucket.take(1_500), true)
    clock.advance(600)
    assert.equal(bucket.take(700), false)
    assert.equal(bucket.take(600), true)
  })

  it('neither grants nor loses tokens when the clock steps backwards', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(10, 5, clock.now)
    drain(bucket)
    clock.advance(-10_000)
    assert.equal(bucket.take(1), false)
    clock.advance(10_100)
    assert.equal(drain(bucket), 1, '100 ms after the last refill')
  })

  it('has() checks without taking; msUntil() says how long until an amount is there', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket(10, 5, clock.now)
    assert.equal(bucket.has(5), true)
    assert.equal(bucket.has(5), true, 'has() took nothing')
    assert.equal(bucket.msUntil(5), 0)
    assert.equal(drain(bucket), 5)
    assert.equal(bucket.has(1), false)
    assert.equal(bucket.msUntil(1), 100)
    assert.equal(bucket.msUntil(6), Infinity, 'more than the burst never fits')
    clock.advance(100)
    assert.equal(bucket.has(1), true)
  })
})
