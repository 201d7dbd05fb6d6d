import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  addressFromBytes,
  addressFromPrivateKey,
  addressToBytes,
  generatePrivateKey,
  isEthereumAddress,
  parseEthereumAddress,
  parsePrivateKey,
  toChecksumAddress,
} from '../../src/index.js'
import { privateKeyToAddress } from 'viem/accounts'
import { assertProtocolError } from '../fixtures.js'

// Test vectors from EIP-55.
const CHECKSUMMED = [
  '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
  '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
]

describe('Ethereum addresses', () => {
  it('accepts EIP-55 checksummed addresses and normalizes them to lowercase', () => {
    for (const address of CHECKSUMMED) {
      assert.equal(parseEthereumAddress(address), address.toLowerCase())
    }
  })

  it('accepts lowercase addresses', () => {
    const lower = CHECKSUMMED[0]!.toLowerCase()
    assert.equal(parseEthereumAddress(lower), lower)
  })

  it('formats addresses with the EIP-55 checksum', () => {
    for (const address of CHECKSUMMED) {
      assert.equal(toChecksumAddress(parseEthereumAddress(address.toLowerCase())), address)
    }
  })

  it('rejects mixed case with a wrong checksum and suggests the right one', () => {
    const wrong = '0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
    assertProtocolError(
      () => parseEthereumAddress(wrong),
      'INVALID_ADDRESS',
      /did you mean 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed/,
    )
  })

  it('rejects wrong lengths, missing prefix, non-hex and non-strings', () => {
    for (const bad of [
      '',
      '0x',
      '0x123',
      CHECKSUMMED[0]!.slice(2),
      '0x' + 'g'.repeat(40),
      '0x' + 'a'.repeat(41),
      ' 0x' + 'a'.repeat(40),
    ]) {
      assertProtocolError(() => parseEthereumAddress(bad), 'INVALID_ADDRESS')
      assert.equal(isEthereumAddress(bad), false)
    }
    assertProtocolError(() => parseEthereumAddress(42 as unknown as string), 'INVALID_ADDRESS')
  })

  it('round-trips through 20 raw bytes', () => {
    const address = parseEthereumAddress(CHECKSUMMED[1]!)
    assert.equal(addressFromBytes(addressToBytes(address)), address)
    assertProtocolError(() => addressFromBytes(new Uint8Array(19)), 'INVALID_ADDRESS')
  })
})

describe('private keys', () => {
  it('derives the same address as viem', () => {
    for (let i = 0; i < 20; i++) {
      const key = generatePrivateKey()
      assert.equal(addressFromPrivateKey(key), privateKeyToAddress(key as `0x${string}`).toLowerCase())
    }
  })

  it('generates distinct 32-byte keys', () => {
    const keys = new Set(Array.from({ length: 100 }, () => generatePrivateKey()))
    assert.equal(keys.size, 100)
    for (const key of keys) assert.match(key, /^0x[0-9a-f]{64}$/)
  })

  it('rejects keys that are not 32 bytes or out of the curve range', () => {
    assertProtocolError(() => parsePrivateKey('0x1234'), 'INVALID_PRIVATE_KEY')
    assertProtocolError(() => parsePrivateKey('0x' + '0'.repeat(64)), 'INVALID_PRIVATE_KEY')
    assertProtocolError(() => parsePrivateKey('0x' + 'f'.repeat(64)), 'INVALID_PRIVATE_KEY')
    assertProtocolError(() => parsePrivateKey(new Uint8Array(31)), 'INVALID_PRIVATE_KEY')
  })
})
