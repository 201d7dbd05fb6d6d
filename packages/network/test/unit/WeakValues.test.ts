import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { setImmediate } from 'node:timers/promises'
import { WeakValues } from '../../src/WeakValues.js'

describe('WeakValues', () => {
  it('gives the live value for a key and makes one only when there is none', () => {
    const values = new WeakValues<string, { n: number }>()
    let made = 0
    const first = values.get('a', () => ({ n: ++made }))
    assert.equal(
      values.get('a', () => ({ n: ++made })),
      first,
    )
    assert.equal(values.intern('a', { n: 99 }), first)
    const other = values.get('b', () => ({ n: ++made }))
    assert.notEqual(other, first)
    assert.equal(made, 2)
    assert.equal(values.size, 2)
  })

  it('keeps no value alive: one nothing else holds is collected, its entry dropped, and a new one made', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const values = new WeakValues<string, { n: number }>()
    const kept = values.get('kept', () => ({ n: 1 }))
    // Made in a function of its own, so nothing in this scope holds it.
    ;((): void => {
      values.get('dropped', () => ({ n: 2 }))
    })()
    // A WeakRef made in this job keeps its target until the job ends: collect after it.
    for (let attempt = 0; attempt < 50 && values.size > 1; attempt++) {
      await setImmediate()
      gc()
    }
    assert.equal(values.size, 1, 'the collected value is dropped from the table')
    assert.deepEqual(
      values.get('dropped', () => ({ n: 3 })),
      { n: 3 },
      'made again',
    )
    assert.equal(
      values.get('kept', () => ({ n: 0 })),
      kept,
    )
  })
})
