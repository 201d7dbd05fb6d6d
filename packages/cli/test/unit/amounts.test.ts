import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatDuration, formatRnl, parseRnl } from '../../src/amounts.js'
import { CliError } from '../../src/index.js'

function refuses(value: string, pattern: RegExp, options?: { allowZero?: boolean }): void {
  assert.throws(
    () => parseRnl(value, '<amount>', options),
    (err: unknown) => err instanceof CliError && err.code === 'INVALID_INPUT' && pattern.test(err.message),
    `${JSON.stringify(value)} is refused with ${String(pattern)}`,
  )
}

describe('RNL amounts', () => {
  it('parses decimal RNL into wei, to the 18th decimal', () => {
    assert.equal(parseRnl('1', '<amount>'), 10n ** 18n)
    assert.equal(parseRnl('12.5', '<amount>'), 125n * 10n ** 17n)
    assert.equal(parseRnl(' 0.000000000000000001 ', '<amount>'), 1n)
    assert.equal(parseRnl('0', '--penalty', { allowZero: true }), 0n)
  })

  it('refuses what is not a plain positive decimal, naming the argument', () => {
    for (const garbage of [
      'abc',
      '',
      '-1',
      '+1',
      '1e999',
      '1e3',
      '0x10',
      '1,000',
      '1.',
      '.5',
      'NaN',
      'Infinity',
      '1 000',
    ]) {
      refuses(garbage, /^<amount>: ".*" is not an amount of RNL \(expected a decimal number such as 100 or 12\.5\)$/)
    }
    refuses('1.0000000000000000001', /has 19 decimals; RNL has at most 18/)
    refuses('0', /is zero; the amount must be above zero/)
    refuses('0.000', /is zero/)
    refuses('9'.repeat(80), /is more RNL than can exist/)
  })

  it('shows wei as RNL without trailing zeros, and durations largest unit first', () => {
    assert.equal(formatRnl(125n * 10n ** 17n), '12.5')
    assert.equal(formatRnl(1n), '0.000000000000000001')
    assert.equal(formatDuration(0n), '0s')
    assert.equal(formatDuration(90_061n), '1d 1h 1m 1s')
    assert.equal(formatDuration(7_200n), '2h')
  })
})
