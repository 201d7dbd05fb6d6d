import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { describe, it } from 'node:test'
import { raceAbort } from '../../src/abort.js'
import { ClientError } from '../../src/index.js'

const isAborted = (err: unknown): boolean => err instanceof ClientError && err.code === 'ABORTED'

describe('raceAbort', () => {
  it('passes the outcome through and leaves no listener on the signal', async () => {
    const controller = new AbortController()
    assert.equal(await raceAbort(Promise.resolve(7), controller.signal, 'call'), 7)
    await assert.rejects(raceAbort(Promise.reject(new Error('own')), controller.signal, 'call'), /own/)
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
  })

  it('rejects with ABORTED (the reason as cause) when the signal fires first, and runs the clean-up', async () => {
    const controller = new AbortController()
    let cleaned = 0
    const racing = raceAbort(new Promise<never>(() => {}), controller.signal, 'subscribe', () => cleaned++)
    controller.abort(new Error('gone'))
    await assert.rejects(racing, (err) => isAborted(err) && ((err as ClientError).cause as Error).message === 'gone')
    assert.equal(cleaned, 1)
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
  })

  it('rejects at once for a signal already aborted, and keeps the abandoned promise from going unhandled', async () => {
    let cleaned = 0
    const abandoned = Promise.reject(new Error('later failure'))
    await assert.rejects(
      raceAbort(abandoned, AbortSignal.abort(), 'publish', () => cleaned++),
      isAborted,
    )
    assert.equal(cleaned, 1)
  })
})
