import { keccak256 } from '@runnel/protocol'

const HEX = '0123456789abcdef'

/**
 * The dedup identity of an ERC-1271 message at a relay: its ref and the first 16 bytes of keccak256(signature).
 * Relays can't call the chain, so they can't tell a forged copy from the genuine one; were they to dedup by ref
 * alone, a forged copy sent first with the genuine ref would shadow the genuine message. Keyed by signature too,
 * both travel on, and subscribers and storage nodes, which ask the wallet, drop the forgery (docs/protocol.md,
 * "ERC-1271 publishers").
 *
 * @param chainKey `${publisherId}/${messageChainId}`
 */
export function erc1271CopyKey(
  chainKey: string,
  timestamp: number,
  sequenceNumber: number,
  signature: Uint8Array,
): string {
  const hash = keccak256(signature)
  let hex = ''
  for (let i = 0; i < 16; i++) hex += HEX[hash[i]! >> 4]! + HEX[hash[i]! & 15]!
  return `${chainKey}/${timestamp}/${sequenceNumber}/${hex}`
}
