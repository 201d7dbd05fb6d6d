import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytesToHex } from '../../src/index.js'

describe('bytesToHex', () => {
  it('writes every byte as two lowercase digits, the parts one after another', () => {
    assert.equal(bytesToHex(new Uint8Array([0, 1, 15, 16, 171, 255])), '00010f10abff')
    assert.equal(bytesToHex(new Uint8Array([1]), new Uint8Array(), new Uint8Array([2, 3])), '010203')
    assert.equal(bytesToHex(), '')
  })

  it('agrees with Buffer on every byte value', () => {
    const all = Uint8Array.from({ length: 256 }, (_, index) => index)
    assert.equal(bytesToHex(all), Buffer.from(all).toString('hex'))
  })
})
