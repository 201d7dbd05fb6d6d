import {
  generatePrivateKey,
  parseSecp256k1PublicKey,
  secp256k1PublicKey,
  secp256k1SharedSecret,
  type PrivateKeyHex,
} from '@runnel/protocol'
import { ClientError } from '../../errors.js'
import {
  deriveSealingKey,
  openWithExchangeKey,
  openWithKey,
  sealToExchangeKey,
  sealWithKey,
  type ExchangeKeyPair,
} from '../keyExchange.js'

/**
 * The two seals a key share goes through (docs/protocol.md, "Key custody"):
 *
 * - publisher → storage node: ECIES on secp256k1 with the node's Ethereum key
 *   (`E ‖ IV ‖ AES-GCM(share)`, E compressed, 94 bytes for a 33-byte share);
 * - storage node → requester: ECIES on P-256 with the request's one-off key
 *   (`E ‖ IV ‖ AES-GCM(share)`, E uncompressed, 126 bytes): the key exchange's seal
 *   (keyExchange.ts) with its own HKDF info.
 *
 * Both use HKDF-SHA-256 and AES-256-GCM with the manifest's text as
 * associated data, so a share opens only together with the manifest it was
 * made for: a node can't pass one key's share off as another's.
 */

const NODE_INFO = new TextEncoder().encode('runnel custody share v1')
const REPLY_INFO = new TextEncoder().encode('runnel custody reply v1')
const textEncoder = new TextEncoder()

function concat(first: Uint8Array, second: Uint8Array): Uint8Array {
  const out = new Uint8Array(first.length + second.length)
  out.set(first)
  out.set(second, first.length)
  return out
}

/**
 * Seals a share to a storage node's secp256k1 public key (33 or 65 bytes; the
 * caller has checked it against the node's address).
 */
export async function sealShareToNode(
  nodePublicKey: Uint8Array,
  share: Uint8Array,
  manifest: string,
): Promise<Uint8Array> {
  const recipient = parseSecp256k1PublicKey(nodePublicKey)
  const ephemeral = generatePrivateKey()
  const ephemeralPublic = secp256k1PublicKey(ephemeral)
  const key = await deriveSealingKey(
    secp256k1SharedSecret(ephemeral, recipient),
    concat(ephemeralPublic, recipient),
    NODE_INFO,
  )
  return concat(ephemeralPublic, await sealWithKey(key, share, textEncoder.encode(manifest)))
}

/**
 * Opens a share sealed to this node.
 *
 * @throws {@link ClientError} `DECRYPTION_FAILED` when it wasn't sealed to this key with this manifest
 */
export async function openShareAsNode(
  nodePrivateKey: PrivateKeyHex | Uint8Array,
  sealed: Uint8Array,
  manifest: string,
): Promise<Uint8Array> {
  try {
    const ephemeralPublic = sealed.subarray(0, 33)
    const shared = secp256k1SharedSecret(nodePrivateKey, ephemeralPublic)
    const key = await deriveSealingKey(shared, concat(ephemeralPublic, secp256k1PublicKey(nodePrivateKey)), NODE_INFO)
    return await openWithKey(key, sealed.subarray(33), textEncoder.encode(manifest))
  } catch (err) {
    throw new ClientError('DECRYPTION_FAILED', 'the share was not sealed to this node with this manifest', {
      cause: err,
    })
  }
}

/**
 * Reseals a share to a requester's one-off P-256 public key (65 bytes uncompressed).
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` when the public key isn't an uncompressed P-256 point
 */
export function sealShareToRequester(
  requesterPublicKey: Uint8Array,
  share: Uint8Array,
  manifest: string,
): Promise<Uint8Array> {
  return sealToExchangeKey(requesterPublicKey, share, {
    info: REPLY_INFO,
    additionalData: textEncoder.encode(manifest),
  })
}

/**
 * Opens a share a storage node resealed to this request's key pair.
 *
 * @throws {@link ClientError} `DECRYPTION_FAILED` when it wasn't sealed to this pair with this manifest
 */
export async function openShareAsRequester(
  pair: ExchangeKeyPair,
  sealed: Uint8Array,
  manifest: string,
): Promise<Uint8Array> {
  try {
    return await openWithExchangeKey(pair, sealed, { info: REPLY_INFO, additionalData: textEncoder.encode(manifest) })
  } catch (err) {
    throw new ClientError('DECRYPTION_FAILED', 'a share from a storage node does not open with this request’s key', {
      cause: err,
    })
  }
}
