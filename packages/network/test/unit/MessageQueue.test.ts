import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { MessageQueue } from '../../src/overlay/MessageQueue.js'

async function collect<T>(queue: MessageQueue<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of queue) items.push(item)
  return items
}

const PENDING = Symbol('pending')

/** The promise's value if it has already settled, else PENDING. */
async function settledValue<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  // Queued after the promise's own reactions, so a settled promise always wins the race.
  return Promise.race([promise, Promise.resolve().then((): typeof PENDING => PENDING)])
}

/** A full, synchronous garbage collection (exposed at runtime, so the test needs no node flags). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
}

describe('MessageQueue', () => {
  it('yields pushed items in order, then ends after close', async () => {
    const queue = new MessageQueue<number>(10)
    for (const item of [1, 2, 3]) queue.push(item)
    queue.close()
    assert.deepEqual(await collect(queue), [1, 2, 3])
    assert.equal(queue.dropped, 0)
  })

  it('drops the oldest items when full and counts them', async () => {
    const queue = new MessageQueue<number>(3)
    for (let item = 1; item <= 5; item++) queue.push(item)
    assert.equal(queue.dropped, 2)
    queue.close()
    assert.deepEqual(await collect(queue), [3, 4, 5])
  })

  it('keeps order and count across many items, reads and drops', async () => {
    const queue = new MessageQueue<number>(1_500)
    const iterator = queue[Symbol.asyncIterator]()
    for (let item = 0; item < 3_000; item++) queue.push(item)
    assert.equal(queue.dropped, 1_500)
    const read: number[] = []
    for (let index = 0; index < 1_200; index++) {
      const result = await iterator.next()
      assert.equal(result.done, false)
      read.push(result.value)
    }
    for (let item = 3_000; item < 3_500; item++) queue.push(item)
    queue.close()
    for (let result = await iterator.next(); result.done !== true; result = await iterator.next()) {
      read.push(result.value)
    }
    assert.deepEqual(
      read,
      Array.from({ length: 2_000 }, (_, index) => 1_500 + index),
    )
    assert.equal(queue.dropped, 1_500)
  })

  it('resolves a waiting next() with the next pushed item', async () => {
    const queue = new MessageQueue<string>(10)
    const waiting = queue[Symbol.asyncIterator]().next()
    assert.equal(await settledValue(waiting), PENDING)
    queue.push('a')
    assert.deepEqual(await waiting, { value: 'a', done: false })
    assert.equal(queue.dropped, 0)
  })

  it('resolves a waiting next() as done when the queue closes', async () => {
    const queue = new MessageQueue<string>(10)
    const waiting = queue[Symbol.asyncIterator]().next()
    assert.equal(await settledValue(waiting), PENDING)
    queue.close()
    assert.deepEqual(await waiting, { value: undefined, done: true })
  })

  it('ends a for-await loop that is waiting when the queue closes', async () => {
    const queue = new MessageQueue<number>(10)
    const reading = collect(queue)
    queue.push(1)
    queue.push(2)
    queue.close()
    assert.deepEqual(await reading, [1, 2])
  })

  it('runs onClose handlers once, however often it is closed', () => {
    const queue = new MessageQueue<number>(10)
    const calls: string[] = []
    queue.onClose(() => calls.push('first'))
    queue.onClose(() => calls.push('second'))
    queue.close()
    queue.close()
    assert.deepEqual(calls, ['first', 'second'])
  })

  it('ignores pushes after close', async () => {
    const queue = new MessageQueue<number>(10)
    queue.push(1)
    queue.close()
    queue.push(2)
    assert.deepEqual(await collect(queue), [1])
    assert.equal(queue.dropped, 0)
  })

  it('closes when the consumer breaks out of for-await', async () => {
    const queue = new MessageQueue<number>(10)
    let closes = 0
    queue.onClose(() => closes++)
    for (const item of [1, 2, 3]) queue.push(item)
    for await (const item of queue) {
      assert.equal(item, 1)
      break
    }
    assert.equal(closes, 1)
    queue.push(4)
    const after: number[] = []
    for await (const item of queue) after.push(item)
    assert.ok(!after.includes(4), 'a closed queue takes no more items')
  })

  it('closes when return() is called on a waiting iterator', async () => {
    const queue = new MessageQueue<number>(10)
    let closes = 0
    queue.onClose(() => closes++)
    const iterator = queue[Symbol.asyncIterator]()
    const waiting = iterator.next()
    assert.deepEqual(await iterator.return?.(), { value: undefined, done: true })
    assert.equal(closes, 1)
    assert.deepEqual(await waiting, { value: undefined, done: true })
  })

  it('lets dropped items be garbage collected while the reader is stalled', async () => {
    // The technique works: an object nothing refers to is collected.
    const control = new WeakRef({ payload: 'control' })
    const queue = new MessageQueue<object>(4)
    const first = new WeakRef(pushNew(queue))
    for (let index = 0; index < 10_000; index++) pushNew(queue)
    assert.equal(queue.dropped, 10_000 - 3)
    // WeakRef targets stay alive until the current job ends.
    await new Promise((resolve) => setImmediate(resolve))
    collectGarbage()
    assert.equal(control.deref(), undefined, 'gc() did not collect an unreferenced object')
    assert.equal(first.deref(), undefined, 'the first item was dropped long ago but is still referenced')
  })
})

function pushNew(queue: MessageQueue<object>): object {
  const item = { payload: new Uint8Array(16) }
  queue.push(item)
  return item
}
