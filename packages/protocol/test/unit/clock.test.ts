import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ManualClock, sleep, systemClock } from '../../src/index.js'

describe('ManualClock', () => {
  it('fires timers in due order, ties in the order they were set, with now() at each due time', () => {
    const clock = new ManualClock(1_000)
    const fired: string[] = []
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20)
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10)
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20)
    assert.equal(clock.advance(15), 1)
    assert.deepEqual(fired, ['a@1010'])
    assert.equal(clock.now(), 1_015)
    assert.equal(clock.advance(100), 2)
    assert.deepEqual(fired, ['a@1010', 'b@1020', 'c@1020'])
    assert.equal(clock.now(), 1_115)
    assert.equal(clock.pendingTimers, 0)
  })

  it('fires timers that timers set, when they fall due within the advance', () => {
    const clock = new ManualClock()
    const fired: number[] = []
    clock.setTimeout(() => {
      fired.push(clock.now())
      clock.setTimeout(() => fired.push(clock.now()), 5)
      clock.setTimeout(() => fired.push(clock.now()), 50)
    }, 5)
    clock.advance(20)
    assert.deepEqual(fired, [5, 10])
    assert.equal(clock.nextDueAt(), 55)
  })

  it('repeats intervals until cancelled, also from inside the callback', () => {
    const clock = new ManualClock()
    let count = 0
    const timer = clock.setInterval(() => {
      count++
      if (count === 3) timer.cancel()
    }, 10)
    clock.advance(100)
    assert.equal(count, 3)
    assert.equal(clock.pendingTimers, 0)
    assert.equal(clock.nextDueAt(), undefined)
  })

  it('never fires a cancelled timer, and cancelling twice or after firing is harmless', () => {
    const clock = new ManualClock()
    let fired = 0
    const timer = clock.setTimeout(() => fired++, 10)
    timer.cancel()
    timer.cancel()
    clock.advance(50)
    assert.equal(fired, 0)
    const later = clock.setTimeout(() => fired++, 10)
    clock.advance(10)
    later.cancel()
    assert.equal(fired, 1)
    assert.equal(clock.pendingTimers, 0)
  })

  it('restarts the delay on refresh, and revives a fired one-shot', () => {
    const clock = new ManualClock()
    const fired: number[] = []
    const timer = clock.setTimeout(() => fired.push(clock.now()), 10)
    clock.advance(8)
    timer.refresh()
    clock.advance(8)
    assert.deepEqual(fired, [])
    clock.advance(2)
    assert.deepEqual(fired, [18])
    timer.refresh()
    clock.advance(10)
    assert.deepEqual(fired, [18, 28])
  })

  it('runNext jumps to the next due instant only', () => {
    const clock = new ManualClock()
    let fired = 0
    clock.setTimeout(() => fired++, 30)
    clock.setTimeout(() => fired++, 30)
    clock.setTimeout(() => fired++, 40)
    assert.equal(clock.runNext(), 2)
    assert.equal(clock.now(), 30)
    assert.equal(clock.runNext(), 1)
    assert.equal(clock.runNext(), 0)
    assert.equal(fired, 3)
  })

  it('lets promise chains started by one timer run before the next fires, in advanceAsync', async () => {
    const clock = new ManualClock()
    const order: string[] = []
    clock.setTimeout(() => {
      void Promise.resolve().then(() => {
        order.push('continuation')
        clock.setTimeout(() => order.push('set by continuation'), 1)
      })
    }, 1)
    clock.setTimeout(() => order.push('second'), 2)
    await clock.advanceAsync(10)
    assert.deepEqual(order, ['continuation', 'second', 'set by continuation'])
  })

  it('keeps 10,000 timers in order', () => {
    const clock = new ManualClock()
    const delays = Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 10_007)
    const fired: number[] = []
    for (const delay of delays) clock.setTimeout(() => fired.push(clock.now()), delay)
    clock.advance(20_000)
    assert.equal(fired.length, delays.length)
    assert.deepEqual(
      fired,
      [...delays].sort((a, b) => a - b),
    )
  })
})

describe('ManualClock: stale entries', () => {
  it('keeps due order (ties by setting order) when cancelled and refreshed entries are swept out', () => {
    const clock = new ManualClock(0)
    const fired: number[] = []
    const timers = Array.from({ length: 6_000 }, (_, index) => clock.setTimeout(() => fired.push(index), index % 97))
    // Two thirds cancelled, a few refreshed: far more stale entries than live ones, so sweeps happen.
    timers.forEach((timer, index) => (index % 3 === 0 ? undefined : timer.cancel()))
    for (let index = 0; index < 6_000; index += 300) timers[index]!.refresh()
    const extra = Array.from({ length: 3_000 }, (_, index) => clock.setTimeout(() => fired.push(10_000 + index), 50))
    assert.equal(clock.pendingTimers, 2_000 + extra.length)
    clock.advance(200)
    // Refreshed timers (every 300th) were set again after the rest of the first batch, before the extra ones.
    const rank = (id: number): number => (id >= 10_000 ? 20_000 + id : id % 300 === 0 ? 10_000 + id : id)
    const due = (id: number): number => (id >= 10_000 ? 50 : id % 97)
    const expected = [...Array.from({ length: 2_000 }, (_, i) => i * 3), ...extra.map((_, index) => 10_000 + index)]
    expected.sort((a, b) => due(a) - due(b) || rank(a) - rank(b))
    assert.deepEqual(fired, expected)
  })

  it("lets go of a cancelled timer's callback before its due time", async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const clock = new ManualClock(0)
    // Many long-lived timers, as in a simulation (keep-alives): a stale entry isn't swept out soon.
    for (let index = 0; index < 2_000; index++) clock.setInterval(() => undefined, 10_000)
    // Made in a function of its own: what the callback closes over must not be in this test's scope.
    // The answer came: its timeout is cancelled and dropped by its owner, as a request does.
    const request = (): WeakRef<object> => {
      const answer = { bytes: new Uint8Array(1_024) }
      clock.setTimeout(() => void answer.bytes, 30_000).cancel()
      return new WeakRef(answer)
    }
    const ref = request()
    clock.advance(5_000)
    // A WeakRef keeps its target for the rest of the job that made it.
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    assert.equal(ref.deref(), undefined, 'the cancelled timer still held its callback')
    assert.equal(clock.pendingTimers, 2_000)
  })
})

describe('sleep', () => {
  it('resolves after the clock moves, and rejects with the reason when aborted', async () => {
    const clock = new ManualClock()
    let done = false
    const slept = sleep(clock, 100).then(() => (done = true))
    clock.advance(99)
    await Promise.resolve()
    assert.equal(done, false)
    clock.advance(1)
    await slept
    assert.equal(done, true)

    const controller = new AbortController()
    const aborted = sleep(clock, 100, controller.signal)
    controller.abort(new Error('stop'))
    await assert.rejects(aborted, /stop/)
    assert.equal(clock.pendingTimers, 0)
    await assert.rejects(sleep(clock, 1, controller.signal), /stop/)
  })

  it('waits on the wall clock with systemClock', async () => {
    const before = systemClock.now()
    await sleep(systemClock, 5)
    assert.ok(systemClock.now() >= before + 4)
  })
})
