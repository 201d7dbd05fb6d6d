import { formatUnits, maxUint256, parseUnits } from 'viem'
import { CliError } from './errors.js'

/** RNL has 18 decimals, like ether: 1 RNL is 10^18 wei. */
export const RNL_DECIMALS = 18

// Plain decimals only: no sign, exponent, separators or hex, so "1e3", "-1" and "0x10" are refused, not guessed at.
const DECIMAL = /^\d+(?:\.\d+)?$/

/**
 * Parses an amount of RNL typed on the command line ("12.5") into wei.
 *
 * @param what the argument or option, for the message (`<amount>`, `--rate`)
 * @param options.allowZero accept 0 (a penalty of nothing); amounts to move must be above zero
 * @throws {@link CliError} `INVALID_INPUT`, naming `what` and saying what an amount looks like
 * @example
 * ```ts
 * parseRnl('12.5', '<amount>') // 12500000000000000000n
 * parseRnl('abc', '<amount>') // throws: <amount>: "abc" is not an amount of RNL (…)
 * ```
 */
export function parseRnl(value: string, what: string, options: { readonly allowZero?: boolean } = {}): bigint {
  const text = value.trim()
  const refuse = (why: string): never => {
    throw new CliError('INVALID_INPUT', `${what}: ${JSON.stringify(value)} ${why}`)
  }
  if (!DECIMAL.test(text)) {
    refuse('is not an amount of RNL (expected a decimal number such as 100 or 12.5)')
  }
  const decimals = text.split('.')[1]?.length ?? 0
  if (decimals > RNL_DECIMALS) refuse(`has ${decimals} decimals; RNL has at most ${RNL_DECIMALS}`)
  const wei = parseUnits(text, RNL_DECIMALS)
  if (wei > maxUint256) refuse('is more RNL than can exist')
  if (wei === 0n && options.allowZero !== true) refuse('is zero; the amount must be above zero')
  return wei
}

/** Wei as RNL, without trailing zeros: `12.5`. */
export function formatRnl(wei: bigint): string {
  return formatUnits(wei, RNL_DECIMALS)
}

/** Wei as RNL with the unit, for humans: `12.5 RNL`. */
export function showRnl(wei: bigint): string {
  return `${formatRnl(wei)} RNL`
}

/**
 * An operator's shares have 24 decimals (ERC-4626 with a decimals offset of 6 over RNL's 18): shown in whole shares,
 * a share is worth about 1 RNL until earnings or slashing move it.
 */
export const SHARE_DECIMALS = RNL_DECIMALS + 6

export function formatShares(shares: bigint): string {
  return formatUnits(shares, SHARE_DECIMALS)
}

/** Seconds as `3d 4h 5m 6s`, largest unit first, zero units left out. */
export function formatDuration(seconds: bigint): string {
  if (seconds <= 0n) return '0s'
  const parts: string[] = []
  let rest = seconds
  for (const [unit, size] of [
    ['d', 86_400n],
    ['h', 3_600n],
    ['m', 60n],
    ['s', 1n],
  ] as const) {
    if (rest >= size) {
      parts.push(`${(rest / size).toString()}${unit}`)
      rest %= size
    }
  }
  return parts.join(' ')
}
