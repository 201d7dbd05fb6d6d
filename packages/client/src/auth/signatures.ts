import { describeValue } from '@runnel/protocol'
import { hexToBytes } from 'viem'
import { ClientError } from '../errors.js'

/** secp256k1's group order: a signature's `s` above half of it has a twin `n - s` that verifies the same. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HALF_ORDER = CURVE_ORDER >> 1n

/**
 * A `personal_sign` answer (0x-hex, 65 bytes r‖s‖v) as a message signature of the Runnel protocol: v ∈ {27, 28} and
 * low s. Wallets differ: some answer v ∈ {0, 1}, and a key held elsewhere may sign with high s, which every verifier
 * in the network refuses (signatures must not be malleable); both are the same signature, rewritten here.
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` for an answer that isn't a 65-byte signature
 * @example
 * ```ts
 * const signature = toMessageSignature(await provider.request({ method: 'personal_sign', params: [data, address] }))
 * ```
 */
export function toMessageSignature(answer: unknown): Uint8Array {
  if (typeof answer !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(answer)) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      `the signer answered ${describeValue(answer)}, not a 65-byte signature (0x and 130 hex digits)`,
    )
  }
  const bytes = hexToBytes(answer as `0x${string}`)
  let v = bytes[64]!
  if (v === 0 || v === 1) v += 27
  if (v !== 27 && v !== 28) throw new ClientError('INVALID_ARGUMENT', `the signer's signature has v = ${bytes[64]}`)
  let s = 0n
  for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(bytes[i]!)
  if (s === 0n || s >= CURVE_ORDER)
    throw new ClientError('INVALID_ARGUMENT', "the signer's signature has s out of range")
  if (s > HALF_ORDER) {
    // The twin signature: s' = n - s with the other recovery id.
    s = CURVE_ORDER - s
    for (let i = 63; i >= 32; i--) {
      bytes[i] = Number(s & 0xffn)
      s >>= 8n
    }
    v = v === 27 ? 28 : 27
  }
  bytes[64] = v
  return bytes
}
