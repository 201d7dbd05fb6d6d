import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MAX_STREAM_PATH_LENGTH,
  ProtocolError,
  parsePartition,
  parseStreamId,
  parseStreamPartId,
  splitStreamId,
  splitStreamPartId,
  toStreamId,
  toStreamPartId,
  type StreamId,
  type StreamPartId,
} from '../../src/index.js'
import { assertProtocolError } from '../fixtures.js'

const OWNER = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
const owner = OWNER.toLowerCase()

describe('stream ids', () => {
  it('normalizes the owner address to lowercase and keeps the path as written', () => {
    assert.equal(parseStreamId(`${OWNER}/Sensors/temp-1.v2_x`), `${owner}/Sensors/temp-1.v2_x`)
  })

  it('splits into owner and path', () => {
    assert.deepEqual(splitStreamId(parseStreamId(`${owner}/a/b`)), { owner, path: '/a/b' })
  })

  it('builds from an owner and a path', () => {
    assert.equal(toStreamId(splitStreamId(parseStreamId(`${owner}/x`)).owner, '/y/z'), `${owner}/y/z`)
  })

  it('rejects ids without a path, with a bad owner, or with a bad path', () => {
    const bad = [
      owner,
      `${owner}/`,
      `${owner}//a`,
      `${owner}/a/`,
      `${owner}/a b`,
      `${owner}/ä`,
      `${owner}/a/../b`,
      `${owner}/.`,
      `${owner}/a#1`,
      `0x123/a`,
      `/a`,
      `${owner}/${'a'.repeat(MAX_STREAM_PATH_LENGTH)}`,
    ]
    for (const id of bad) {
      assertProtocolError(() => parseStreamId(id), 'INVALID_STREAM_ID')
    }
  })

  it('accepts the longest allowed path', () => {
    const path = '/' + 'a'.repeat(MAX_STREAM_PATH_LENGTH - 1)
    assert.equal(parseStreamId(owner + path), owner + path)
  })

  it('names the owner problem in the error', () => {
    assertProtocolError(
      () => parseStreamId('0xnothex/a'),
      'INVALID_STREAM_ID',
      /invalid owner address: expected 0x followed by 40 hex digits/,
    )
  })

  it('normalizes a checksummed owner on every call, not only the first', () => {
    assert.equal(parseStreamId(`${OWNER}/cached`), `${owner}/cached`)
    assert.equal(parseStreamId(`${OWNER}/cached`), `${owner}/cached`)
  })

  it('refuses untrusted ids saying what is wrong, quoting them short and without control characters', () => {
    const cases: [string, RegExp][] = [
      ['%', /has no path/],
      ['\u0000', /has no path/],
      ['abc', /has no path/],
      [`${owner}/../..`, /not "\." or "\.\."/],
      [`${owner}/dé€mo`, /made of \[A-Za-z0-9._-\]/],
      [`${owner}/a\u0000b`, /path of .* is invalid/],
      [`${owner}/\u001b[2J\u009b31m\u202ex`, /path of .* is invalid/],
      [`${owner}/${'a'.repeat(10_000)}`, /10001 characters; the maximum is 255/],
      [`0x${'f'.repeat(10_000)}/a`, /invalid owner address/],
    ]
    for (const [input, reason] of cases) {
      assert.throws(
        () => parseStreamId(input),
        (err: unknown) => {
          assert.ok(err instanceof ProtocolError)
          assert.equal(err.code, 'INVALID_STREAM_ID')
          assert.match(err.message, reason)
          // eslint-disable-next-line no-control-regex -- finding control characters is the point
          assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f-\u009f\u202e]/, JSON.stringify(err.message))
          assert.ok(err.message.length < 400, `${err.message.length} characters`)
          return true
        },
      )
    }
  })
})

describe('partitions and stream part ids', () => {
  const streamId = parseStreamId(`${owner}/a`)

  it('accepts partitions 0..99 only', () => {
    assert.equal(parsePartition(0), 0)
    assert.equal(parsePartition(99), 99)
    for (const bad of [-1, 100, 1.5, NaN, Infinity]) {
      assertProtocolError(() => parsePartition(bad), 'INVALID_PARTITION')
    }
  })

  it('formats and parses stream part ids', () => {
    const id = toStreamPartId(streamId, 42)
    assert.equal(id, `${owner}/a#42`)
    assert.equal(parseStreamPartId(`${OWNER}/a#42`), id)
    assert.deepEqual(splitStreamPartId(id), { streamId, partition: 42 })
  })

  it('rejects malformed stream part ids', () => {
    for (const bad of [
      `${owner}/a`,
      `${owner}/a#`,
      `${owner}/a#100`,
      `${owner}/a#01`,
      `${owner}/a#-1`,
      `${owner}#1`,
      '#1',
    ]) {
      assertProtocolError(() => parseStreamPartId(bad), 'INVALID_STREAM_PART_ID')
    }
  })

  it('keeps the id kinds apart at compile time', () => {
    const part: StreamPartId = toStreamPartId(streamId, 0)
    // @ts-expect-error a StreamPartId is not a StreamId
    const wrong: StreamId = part
    // @ts-expect-error a plain string is not a StreamId
    const alsoWrong: StreamId = 'x'
    assert.ok(wrong !== undefined && alsoWrong !== undefined)
  })
})
