import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidArgumentError } from 'commander'
import { parseStorageUrl } from '../../src/commands/storageNode.js'
import { formatHistoryRef, parseHistoryRef } from '../../src/history.js'

describe('parseHistoryRef', () => {
  it('reads milliseconds, milliseconds:sequence and ISO-8601 dates and times', () => {
    assert.deepEqual(parseHistoryRef('1748779200000'), { timestamp: 1748779200000 })
    assert.deepEqual(parseHistoryRef('0'), { timestamp: 0 })
    assert.deepEqual(parseHistoryRef('1748779200000:3'), { timestamp: 1748779200000, sequenceNumber: 3 })
    assert.deepEqual(parseHistoryRef('2025-06-01T12:00:00Z'), { timestamp: Date.UTC(2025, 5, 1, 12) })
    assert.deepEqual(parseHistoryRef('2025-06-01T12:00:00.250+02:00'), {
      timestamp: Date.UTC(2025, 5, 1, 10, 0, 0, 250),
    })
    assert.deepEqual(parseHistoryRef('2025-06-01'), { timestamp: Date.UTC(2025, 5, 1) }, 'a date alone is UTC')
    assert.deepEqual(
      parseHistoryRef('2025-06-01T12:30'),
      { timestamp: new Date(2025, 5, 1, 12, 30).getTime() },
      'local',
    )
    assert.deepEqual(parseHistoryRef('2024-02-29'), { timestamp: Date.UTC(2024, 1, 29) })
  })

  it('refuses anything else with a usage error naming the forms', () => {
    for (const bad of [
      '',
      'yesterday',
      '-5',
      '1.5',
      '12:x',
      '2025-02-30',
      '2025-13-01',
      '2025-06-01T25:00Z',
      '2025-06-01 12:00',
      '1748779200000:99999999999',
      '99999999999999999999',
    ]) {
      assert.throws(() => parseHistoryRef(bad), InvalidArgumentError, `refuses ${JSON.stringify(bad)}`)
    }
    assert.throws(() => parseHistoryRef('soon'), /expected milliseconds since 1970, an ISO-8601 date or time/)
  })

  it('describes a point with its ISO time', () => {
    assert.equal(formatHistoryRef({ timestamp: 0, sequenceNumber: 2 }), '0:2 (1970-01-01T00:00:00.000Z)')
  })
})

describe('parseStorageUrl', () => {
  it('takes http and https URLs, without trailing slashes', () => {
    assert.equal(parseStorageUrl('http://127.0.0.1:7172'), 'http://127.0.0.1:7172')
    assert.equal(parseStorageUrl('https://Storage.Example.org/history/'), 'https://storage.example.org/history')
  })

  it('refuses other schemes, credentials, queries and fragments', () => {
    for (const bad of [
      '127.0.0.1:7172',
      'ftp://x',
      'ws://x:1',
      'http://user:pw@x',
      'http://x/?a=1',
      'http://x/#h',
      'x',
    ]) {
      assert.throws(() => parseStorageUrl(bad), InvalidArgumentError, `refuses ${bad}`)
    }
  })
})
