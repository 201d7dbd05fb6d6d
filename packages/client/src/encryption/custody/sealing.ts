import {
  generatePrivateKey,
  parseSecp256k1PublicKey,
  secp256k1PublicKey,
  secp256k1SharedSecret,
  type PrivateKeyHex,
} from '@runnel/protocol'
import { ClientError } from '../../errors.js'
import { bufferSource } from '../GroupKey.js'

/**
 * The two seals a key share goes through (docs/protocol.md, "Key custody"):
 *
 * - publisher → storage node: ECIES on secp256k1 with the node's Ethereum key
 *   (`E ‖ IV ‖ AES-GCM(share)`, E compressed, 94 bytes for a 33-byte share);
 * - storage node → requester: ECIES on P-256 with the request's one-off key
 *   (`E ‖ IV ‖ AES-GCM(share)`, E uncompressed, 126 bytes), as the key exchange does.
 *
 * Both use HKDF-SHA-256 and AES-256-GCM with the manifest's text as
 * associated data, so a share opens only together with the manifest it was
 * made for: a node can't pass one key's share off as another's.
 */

const NODE_INFO = new TextEncoder().encode('runnel custody share v1')
const REPLY_INFO = new TextEncoder().encode('runnel custody reply v1')
const P256 = { name: 'ECDH', namedCurve: 'P-256' } as const
const IV_BYTES = 12
const textEncoder = new TextEncoder()

async function aesKey(shared: Uint8Array, salt: Uint8Array, info: Uint8Array): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', bufferSource(shared), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: bufferSource(salt), info: bufferSource(info) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

async function encrypt(key: CryptoKey, plaintext: Uint8Array, manifest: string): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: textEncoder.encode(manifest) },
    key,
    bufferSource(plaintext),
  )
  return concat(iv, new Uint8Array(sealed))
}

async function decrypt(key: CryptoKey, data: Uint8Array, manifest: string): Promise<Uint8Array> {
  const opened = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: bufferSource(data.subarray(0, IV_BYTES)), additionalData: textEncoder.encode(manifest) },
    key,
    bufferSource(data.subarray(IV_BYTES)),
  )
  return new Uint8Array(opened)
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
  const key = await aesKey(secp256k1SharedSecret(ephemeral, recipient), concat(ephemeralPublic, recipient), NODE_INFO)
  return concat(ephemeralPublic, await encrypt(key, share, manifest))
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
    const key = await aesKey(shared, concat(ephemeralPublic, secp256k1PublicKey(nodePrivateKey)), NODE_INFO)
    return await decrypt(key, sealed.subarray(33), manifest)
  } catch (err) {
    throw new ClientError('DECRYPTION_FAILED', 'the share was not sealed to this node with this manifest', {
      cause: err,
    })
  }
}

/** Reseals a share to a requester's one-off P-256 public key (65 bytes uncompressed). */
export async function sealShareToRequester(
  requesterPublicKey: Uint8Array,
  share: Uint8Array,
  manifest: string,
): Promise<Uint8Array> {
  if (requesterPublicKey.length !== 65 || requesterPublicKey[0] !== 0x04) {
    throw new ClientError('INVALID_ARGUMENT', 'the share request publicKey is an uncompressed P-256 point (65 bytes)')
  }
  let recipient: CryptoKey
  try {
    recipient = await crypto.subtle.importKey('raw', bufferSource(requesterPublicKey), P256, false, [])
  } catch (err) {
    throw new ClientError('INVALID_ARGUMENT', 'the share request publicKey is not a point on P-256', { cause: err })
  }
  const ephemeral = await crypto.subtle.generateKey(P256, false, ['deriveBits'])
  const ephemeralPublic = new Uint8Array(await crypto.subtle.exportKey('raw', ephemeral.publicKey))
  const shared = new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'ECDH', public: recipient }, ephemeral.privateKey, 256),
  )
  const key = await aesKey(shared, requesterPublicKey, REPLY_INFO)
  return concat(ephemeralPublic, await encrypt(key, share, manifest))
}

/**
 * Opens a share a storage node resealed to this request's key pair.
 *
 * @throws {@link ClientError} `DECRYPTION_FAILED` when it wasn't sealed to this pair with this manifest
 */
export async function openShareAsRequester(
  pair: { readonly publicKey: Uint8Array; readonly privateKey: CryptoKey },
  sealed: Uint8Array,
  manifest: string,
): Promise<Uint8Array> {
  try {
    const ephemeral = await crypto.subtle.importKey('raw', bufferSource(sealed.subarray(0, 65)), P256, false, [])
    const shared = new Uint8Array(
      await crypto.subtle.deriveBits({ name: 'ECDH', public: ephemeral }, pair.privateKey, 256),
    )
    const key = await aesKey(shared, pair.publicKey, REPLY_INFO)
    return await decrypt(key, sealed.subarray(65), manifest)
  } catch (err) {
    throw new ClientError('DECRYPTION_FAILED', 'a share from a storage node does not open with this request’s key', {
      cause: err,
    })
  }
}
