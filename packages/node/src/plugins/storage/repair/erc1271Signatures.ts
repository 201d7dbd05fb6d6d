import { SignatureType, type StreamMessage } from '@runnel/protocol'

/** Checks a batch of fetched messages' signatures: one verdict per message, in order. */
export type VerifySignatures = (messages: readonly StreamMessage[], frames: readonly Uint8Array[]) => Promise<boolean[]>

/**
 * `verifyKeys` (secp256k1, in workers or here) for key-signed messages, and `verifyErc1271` (an `eth_call` to the
 * publisher's wallet, cached) for ERC-1271 publishers' (signature type 2), which no key check can pass. Without
 * `verifyErc1271`, or when the chain can't be asked, a type-2 message is refused: repair never writes what it
 * couldn't verify.
 *
 * @example
 * ```ts
 * const verifySignatures = withErc1271Signatures(verifyHere, (message) => client.validateMessage(message))
 * ```
 */
export function withErc1271Signatures(
  verifyKeys: VerifySignatures,
  verifyErc1271: ((message: StreamMessage) => Promise<boolean>) | undefined,
): VerifySignatures {
  return async (messages, frames) => {
    const wallets: number[] = []
    messages.forEach((message, index) => {
      if (message.signatureType === SignatureType.Erc1271) wallets.push(index)
    })
    // The usual batch, with no wallet among it: as before, no copying.
    if (wallets.length === 0) return verifyKeys(messages, frames)
    const keyed = messages.map((_, index) => index).filter((index) => !wallets.includes(index))
    const verdicts = new Array<boolean>(messages.length).fill(false)
    const [keyVerdicts, walletVerdicts] = await Promise.all([
      keyed.length === 0
        ? Promise.resolve([])
        : verifyKeys(
            keyed.map((index) => messages[index]!),
            keyed.map((index) => frames[index]!),
          ),
      Promise.all(
        wallets.map((index) =>
          verifyErc1271 === undefined ? Promise.resolve(false) : verifyErc1271(messages[index]!).catch(() => false),
        ),
      ),
    ])
    keyed.forEach((index, at) => (verdicts[index] = keyVerdicts[at]!))
    wallets.forEach((index, at) => (verdicts[index] = walletVerdicts[at]!))
    return verdicts
  }
}
