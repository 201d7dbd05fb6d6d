import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DuplicateDetector } from '../../src/overlay/DuplicateDetector.js'

const CHAIN = '0x1111111111111111111111111111111111111111/chain-a'
const OTHER_CHAIN = '0x2222222222222222222222222222222222222222/chain-b'

/** What a relay does per message: check, then mark; true if the message was new. */
function accept(
  detector: DuplicateDetector,
  chainKey: string,
  timestamp: number,
  sequenceNumber: number,
  previous?: [number, number],
): boolean {
  if (detector.isDuplicate(chainKey, timestamp, sequenceNumber)) return false
  const previousRef = previous === undefined ? undefined : { timestamp: previous[0], sequenceNumber: previous[1] }
  detector.markSeen(chainKey, timestamp, sequenceNumber, previousRef)
  return true
}

describe('DuplicateDetector', () => {
  it('reports a ref as new until it is marked, and as a duplicate afterwards', () => {
    const detector = new DuplicateDetector()
    assert.equal(detector.isDuplicate(CHAIN, 1_000, 0), false)
    detector.markSeen(CHAIN, 1_000, 0)
    assert.equal(detector.isDuplicate(CHAIN, 1_000, 0), true)
    assert.equal(detector.isDuplicate(CHAIN, 1_000, 1), false, 'same timestamp, next sequence number')
    assert.equal(detector.isDuplicate(CHAIN, 1_001, 0), false, 'next timestamp')
  })

  it('keeps chains independent: a ref seen in one chain is new in another', () => {
    const detector = new DuplicateDetector()
    detector.markSeen(CHAIN, 1_000, 0)
    assert.equal(detector.isDuplicate(OTHER_CHAIN, 1_000, 0), false)
    detector.markSeen(OTHER_CHAIN, 1_000, 0)
    assert.equal(detector.isDuplicate(OTHER_CHAIN, 1_000, 0), true)
    assert.equal(detector.chainCount, 2)
  })

  it('does not mark a ref when only asked whether it is a duplicate', () => {
    const detector = new DuplicateDetector()
    for (let index = 0; index < 3; index++) assert.equal(detector.isDuplicate(CHAIN, 1_000, 0), false)
    assert.equal(detector.chainCount, 0, 'checking creates no chain either')
  })

  it('accepts each ref of an in-order stream exactly once', () => {
    const detector = new DuplicateDetector(50)
    const accepted: string[] = []
    for (let round = 0; round < 2; round++) {
      for (let timestamp = 0; timestamp < 20; timestamp++) {
        for (let sequence = 0; sequence < 3; sequence++) {
          if (accept(detector, CHAIN, timestamp, sequence)) accepted.push(`${timestamp}/${sequence}`)
        }
      }
    }
    assert.equal(accepted.length, 60)
    assert.equal(new Set(accepted).size, 60)
  })

  it('treats refs at or below the newest evicted ref as duplicates, and newer unseen refs as new', () => {
    const detector = new DuplicateDetector(3)
    for (const [timestamp, sequence] of [
      [100, 0],
      [100, 1],
      [101, 0],
      [102, 0],
      [103, 0],
    ] as const) {
      detector.markSeen(CHAIN, timestamp, sequence)
    }
    // Window of 3 holds 101/0, 102/0, 103/0; 100/0 and then 100/1 were evicted.
    assert.equal(detector.isDuplicate(CHAIN, 100, 1), true, 'the newest evicted ref itself')
    assert.equal(detector.isDuplicate(CHAIN, 100, 0), true, 'an older evicted ref')
    assert.equal(detector.isDuplicate(CHAIN, 99, 7), true, 'an unseen ref below the evicted floor')
    assert.equal(detector.isDuplicate(CHAIN, 100, 2), false, 'an unseen ref just above the evicted floor')
    assert.equal(detector.isDuplicate(CHAIN, 101, 1), false, 'an unseen ref between refs in the window')
    assert.equal(detector.isDuplicate(CHAIN, 104, 0), false, 'an unseen ref newer than everything')
    for (const timestamp of [101, 102, 103]) {
      assert.equal(detector.isDuplicate(CHAIN, timestamp, 0), true, `${timestamp}/0 is still in the window`)
    }
  })

  it('accepts a late ref once when it arrives out of order within the window', () => {
    const detector = new DuplicateDetector(4)
    assert.equal(accept(detector, CHAIN, 100, 0), true)
    assert.equal(accept(detector, CHAIN, 102, 0), true)
    assert.equal(accept(detector, CHAIN, 103, 0), true)
    assert.equal(accept(detector, CHAIN, 101, 0), true, 'late but never seen')
    assert.equal(accept(detector, CHAIN, 101, 0), false, 'its second copy')
    assert.equal(accept(detector, CHAIN, 104, 0), true, 'evicts 100/0')
    assert.equal(accept(detector, CHAIN, 100, 0), false, 'the evicted ref still counts as seen')
    assert.equal(accept(detector, CHAIN, 101, 0), false, 'the late ref stays seen')
  })

  it('accepts a late ref above the evicted floor even after evictions', () => {
    const detector = new DuplicateDetector(2)
    detector.markSeen(CHAIN, 10, 0)
    detector.markSeen(CHAIN, 12, 0)
    detector.markSeen(CHAIN, 13, 0) // evicts 10/0
    assert.equal(accept(detector, CHAIN, 11, 0), true)
    assert.equal(accept(detector, CHAIN, 11, 0), false)
  })

  it('handles sequence numbers of a thousand and more in one millisecond, also when they are evicted', () => {
    const detector = new DuplicateDetector(3)
    const now = Date.now()
    for (const sequence of [1022, 1023, 1024, 5000, 5001]) assert.equal(accept(detector, CHAIN, now, sequence), true)
    // 1022 and 1023 were evicted; the floor is now 1023, so 1023 and below count as seen.
    assert.equal(accept(detector, CHAIN, now, 1023), false)
    assert.equal(accept(detector, CHAIN, now, 1024), false, 'still in the window')
    assert.equal(accept(detector, CHAIN, now, 1025), true, 'never seen, above the floor')
    // The lowest goes first (1024, then 1025), moving the floor as little as it can; then 5000.
    detector.markSeen(CHAIN, now + 1, 0)
    detector.markSeen(CHAIN, now + 2, 0)
    assert.equal(detector.isDuplicate(CHAIN, now, 4999), true, 'below the evicted 5000')
    assert.equal(detector.isDuplicate(CHAIN, now, 5002), false)
  })

  it('gives a ref marked twice one place in the window', () => {
    const detector = new DuplicateDetector(2)
    detector.markSeen(CHAIN, 10, 0)
    detector.markSeen(CHAIN, 10, 0)
    detector.markSeen(CHAIN, 5, 0) // late, but the window holds two refs: nothing is evicted
    assert.equal(detector.isDuplicate(CHAIN, 7, 0), false, 'no floor was raised past an unseen ref')
    assert.equal(detector.isDuplicate(CHAIN, 10, 0), true)
    assert.equal(detector.isDuplicate(CHAIN, 5, 0), true)
  })

  it('keeps a linked chain as one segment however long it runs, so no floor rises over an older unseen ref', () => {
    const detector = new DuplicateDetector(2)
    for (let timestamp = 10; timestamp < 10_010; timestamp++) {
      assert.equal(accept(detector, CHAIN, timestamp, 0, timestamp === 10 ? undefined : [timestamp - 1, 0]), true)
    }
    for (const timestamp of [10, 5_000, 10_009]) assert.equal(detector.isDuplicate(CHAIN, timestamp, 0), true)
    assert.equal(detector.isDuplicate(CHAIN, 10, 1), true, 'no honest ref lies between two linked ones')
    assert.equal(detector.isDuplicate(CHAIN, 5, 0), false, 'older than the chain as seen: new')
    assert.equal(detector.isDuplicate(CHAIN, 10_010, 0), false)
  })

  it('joins the segments on either side when the ref between them arrives late', () => {
    const detector = new DuplicateDetector(2)
    assert.equal(accept(detector, CHAIN, 1, 0), true)
    assert.equal(accept(detector, CHAIN, 2, 0, [1, 0]), true)
    assert.equal(accept(detector, CHAIN, 4, 0, [3, 0]), true, 'its previous one, 3/0, is missing: a second segment')
    assert.equal(detector.isDuplicate(CHAIN, 3, 0), false)
    assert.equal(accept(detector, CHAIN, 3, 0, [2, 0]), true, 'the late one links both: one segment')
    assert.equal(accept(detector, CHAIN, 10, 0), true, 'a second segment again, within the window of two')
    assert.equal(detector.isDuplicate(CHAIN, 0, 0), false, 'no segment was forgotten')
    for (const timestamp of [1, 2, 3, 4, 10]) assert.equal(detector.isDuplicate(CHAIN, timestamp, 0), true)
    assert.equal(detector.isDuplicate(CHAIN, 5, 0), false)
  })

  it('counts no ref as seen between a ref and a previous one it names that was never seen', () => {
    const detector = new DuplicateDetector(10)
    accept(detector, CHAIN, 1, 0)
    accept(detector, CHAIN, 5, 0, [4, 0])
    for (const timestamp of [2, 3, 4]) assert.equal(detector.isDuplicate(CHAIN, timestamp, 0), false)
  })

  it('refuses a window of less than one segment', () => {
    assert.throws(() => new DuplicateDetector(0), RangeError)
  })

  it('forgets the least recently created chain once maxChains is reached', () => {
    const detector = new DuplicateDetector(100, 2)
    detector.markSeen(CHAIN, 1, 0)
    detector.markSeen(OTHER_CHAIN, 1, 0)
    detector.markSeen('third', 1, 0)
    assert.equal(detector.chainCount, 2)
    assert.equal(detector.isDuplicate(CHAIN, 1, 0), false, 'the oldest chain was forgotten')
    assert.equal(detector.isDuplicate(OTHER_CHAIN, 1, 0), true)
    assert.equal(detector.isDuplicate('third', 1, 0), true)
  })

  it('keeps a steadily active chain and forgets an idle one when a new chain arrives', () => {
    const detector = new DuplicateDetector(1_000, 2)
    detector.markSeen(CHAIN, 0, 0)
    detector.markSeen(OTHER_CHAIN, 0, 0)
    // CHAIN was created first but stays active; OTHER_CHAIN goes idle.
    for (let timestamp = 1; timestamp <= 200; timestamp++) detector.markSeen(CHAIN, timestamp, 0)
    detector.markSeen('third', 0, 0)
    assert.equal(detector.chainCount, 2)
    assert.equal(detector.isDuplicate(CHAIN, 200, 0), true, 'the active chain is remembered')
    assert.equal(detector.isDuplicate(OTHER_CHAIN, 0, 0), false, 'the idle chain was forgotten')
  })

  it('never holds more than maxChains chains', () => {
    const detector = new DuplicateDetector(10, 5)
    for (let index = 0; index < 100; index++) {
      detector.markSeen(`chain-${index}`, index, 0)
      assert.ok(detector.chainCount <= 5)
    }
    assert.equal(detector.chainCount, 5)
    for (let index = 95; index < 100; index++) assert.equal(detector.isDuplicate(`chain-${index}`, index, 0), true)
  })
})

describe('DuplicateDetector: exact copies (ERC-1271)', () => {
  it('remembers copies exactly, without a floor, and forgets the oldest past its bound', () => {
    const detector = new DuplicateDetector(10, 10, 3)
    for (const key of ['a', 'b', 'c']) detector.markCopySeen(key)
    assert.equal(detector.isDuplicateCopy('b'), true)
    assert.equal(detector.isDuplicateCopy('z'), false)
    detector.markCopySeen('d')
    assert.equal(detector.isDuplicateCopy('a'), false, 'the oldest went')
    assert.equal(detector.isDuplicateCopy('d'), true)
    // Copies never touch the ref windows.
    assert.equal(detector.chainCount, 0)
  })
})
