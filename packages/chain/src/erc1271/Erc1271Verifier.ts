import {
  BaseError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  bytesToHex,
  keccak256,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem'
import { ChainError } from '../errors.js'
import { TtlCache } from '../cache/TtlCache.js'
import { toChainError } from '../revert.js'

/** What `isValidSignature(bytes32,bytes)` returns for a valid signature (ERC-1271). */
export const ERC1271_MAGIC_VALUE = '0x1626ba7e'
/** Longest signature passed to a wallet: bounds what a stranger can make every verifier send and cache. */
export const MAX_ERC1271_SIGNATURE_BYTES = 1_024

const ERC1271_ABI = [
  {
    type: 'function',
    name: 'isValidSignature',
    stateMutability: 'view',
    inputs: [
      { name: 'hash', type: 'bytes32' },
      { name: 'signature', type: 'bytes' },
    ],
    outputs: [{ name: 'magicValue', type: 'bytes4' }],
  },
] as const

export interface Erc1271VerifierOptions {
  /** How long an answer is trusted (a wallet may change its owners). Default 60 s. */
  readonly ttlMs?: number
  /** Most answers kept; the oldest go first. Default 10,000 (~2 MB). */
  readonly maxEntries?: number
}

/**
 * Asks smart-contract wallets (ERC-1271) whether they accept a signature over a hash, and remembers the answers for
 * a TTL: a message verified by a subscriber, then by a storage node or a resend in the same process, costs one
 * `eth_call`. A wallet that reverts, answers anything but the magic value, or isn't a contract at all rejects the
 * signature (an answer, cached); a failing RPC endpoint is a `ChainError` `RPC_ERROR` (not cached).
 *
 * @example
 * ```ts
 * const verifier = new Erc1271Verifier(publicClient)
 * if (await verifier.isValidSignature(wallet, hashPersonalMessage(payload), signature)) accept(message)
 * ```
 */
export class Erc1271Verifier {
  /** Answers from memory, and calls to the chain. */
  readonly stats = { hits: 0, misses: 0 }
  private readonly answers: TtlCache<string, boolean>

  constructor(
    private readonly publicClient: Pick<PublicClient, 'readContract'>,
    options: Erc1271VerifierOptions = {},
    now: () => number = Date.now,
  ) {
    this.answers = new TtlCache(options.ttlMs ?? 60_000, options.maxEntries ?? 10_000, now, (hit) => {
      if (hit) this.stats.hits++
      else this.stats.misses++
    })
  }

  /**
   * Whether `wallet` accepts `signature` over the 32-byte `hash`.
   *
   * @throws {@link ChainError} `INVALID_ARGUMENT` for a hash that isn't 32 bytes or a signature over
   *   {@link MAX_ERC1271_SIGNATURE_BYTES}; `RPC_ERROR` when the chain can't be asked
   */
  isValidSignature(wallet: Address, hash: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (hash.length !== 32) {
      return Promise.reject(new ChainError('INVALID_ARGUMENT', `an ERC-1271 hash is 32 bytes, got ${hash.length}`))
    }
    if (signature.length === 0 || signature.length > MAX_ERC1271_SIGNATURE_BYTES) {
      return Promise.reject(
        new ChainError(
          'INVALID_ARGUMENT',
          `an ERC-1271 signature is 1..${MAX_ERC1271_SIGNATURE_BYTES} bytes, got ${signature.length}`,
        ),
      )
    }
    const hashHex = bytesToHex(hash)
    const signatureHex = bytesToHex(signature)
    const key = `${wallet.toLowerCase()}${hashHex.slice(2)}${keccak256(signatureHex).slice(2)}`
    return this.answers.get(key, () => this.ask(wallet, hashHex, signatureHex))
  }

  private async ask(wallet: Address, hash: Hex, signature: Hex): Promise<boolean> {
    try {
      const answer = await this.publicClient.readContract({
        address: wallet,
        abi: ERC1271_ABI,
        functionName: 'isValidSignature',
        args: [hash, signature],
      })
      return answer.toLowerCase() === ERC1271_MAGIC_VALUE
    } catch (err) {
      // A refusal by the wallet, or no contract there: the signature is not valid. Anything else is the RPC's failure.
      if (
        err instanceof BaseError &&
        err.walk((e) => e instanceof ContractFunctionRevertedError || e instanceof ContractFunctionZeroDataError) !==
          null
      ) {
        return false
      }
      throw toChainError(err)
    }
  }
}
