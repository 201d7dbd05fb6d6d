import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock } from '@runnel/protocol'
import { NetworkError } from '../../src/errors.js'
import { runFor, runUntil } from '../../src/index.js'
import { timeoutSignal } from '../../src/timeoutSignal.js'

describe('virtual time', () => {
  it('runUntil lets promise chains started by one timer finish before the next timer fires', async () => {
    const clock = new ManualClock()
    const log: string[] = []
    clock.setTimeout(() => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => log.push('chain of the first timer done'))
    }, 10)
    clock.setTimeout(() => log.push('second timer'), 20)
    const tookMs = await runUntil(clock, () => log.length === 2)
    assert.deepEqual(log, ['chain of the first timer done', 'second timer'])
    assert.equal(tookMs, 20)
  })

  it('runUntil fails with TIMEOUT at the virtual deadline, or when nothing is left to happen', async () => {
    const clock = new ManualClock()
    clock.setInterval(() => undefined, 1_000)
    await assert.rejects(
      runUntil(clock, () => false, { timeoutMs: 5_500, description: 'never' }),
      (err) =>
        err instanceof NetworkError && err.code === 'TIMEOUT' && /never: not met after 5500 ms/.test(err.message),
    )
    assert.equal(clock.now(), 5_500)
    const idle = new ManualClock()
    await assert.rejects(
      runUntil(idle, () => false),
      (err) => err instanceof NetworkError && err.code === 'TIMEOUT' && /nothing is left to happen/.test(err.message),
    )
  })

  it('runFor fires what falls due and ends exactly at its target', async () => {
    const clock = new ManualClock(1_000)
    const fired: number[] = []
    clock.setInterval(() => fired.push(clock.now()), 400)
    await runFor(clock, 1_000)
    assert.deepEqual(fired, [1_400, 1_800])
    assert.equal(clock.now(), 2_000)
  })

  it('timeoutSignal aborts with a TimeoutError after its delay on the given clock', async () => {
    const clock = new ManualClock()
    const signal = timeoutSignal(clock, 5_000)
    await runFor(clock, 4_999)
    assert.equal(signal.aborted, false)
    await runFor(clock, 1)
    assert.equal(signal.aborted, true)
    assert.equal((signal.reason as DOMException).name, 'TimeoutError')
  })
})
