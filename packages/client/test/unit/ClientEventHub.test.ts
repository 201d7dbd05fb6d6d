import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ClientEventHub } from '../../src/events/ClientEventHub.js'

describe('ClientEventHub on, once and off', () => {
  it('calls a once listener for the next event only', () => {
    const hub = new ClientEventHub()
    const seen: string[] = []
    hub.once('error', (error) => seen.push(error.message))
    hub.emit('error', new Error('first'))
    hub.emit('error', new Error('second'))
    assert.deepEqual(seen, ['first'])
    assert.equal(hub.listenerCount('error'), 0)
  })

  it('removes on and once listeners by the function given, and ignores one never added', () => {
    const hub = new ClientEventHub()
    const seen: string[] = []
    const onListener = (error: Error) => seen.push(`on ${error.message}`)
    const onceListener = (error: Error) => seen.push(`once ${error.message}`)
    hub.on('error', onListener)
    hub.once('error', onceListener)
    hub.off('error', onListener)
    hub.off('error', onceListener)
    hub.off('gap', () => {})
    hub.emit('error', new Error('nobody hears'))
    assert.deepEqual(seen, [])
    assert.equal(hub.listenerCount('error'), 0)
  })

  it('keeps the same function as a once listener of two events apart', () => {
    const hub = new ClientEventHub()
    let calls = 0
    const listener = () => calls++
    hub.once('gap', listener)
    hub.once('retentionDrop', listener)
    hub.off('gap', listener)
    hub.emit('retentionDrop', {} as never)
    assert.equal(calls, 1)
    assert.equal(hub.listenerCount('gap') + hub.listenerCount('retentionDrop'), 0)
  })

  it('removes a once listener through the function once returns', () => {
    const hub = new ClientEventHub()
    let calls = 0
    const remove = hub.once('gap', () => calls++)
    remove()
    hub.emit('gap', {} as never)
    assert.equal(calls, 0)
  })
})
