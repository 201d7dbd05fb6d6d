import { ClientError } from '../errors.js'
import { GroupKey, bufferSource } from './GroupKey.js'

/**
 * Key exchange crypto: a subscriber sends a fresh ECDH P-256 public key with
 * its request; the publisher seals each group key to it with an ephemeral
 * ECDH key of its own (ECIES: HKDF-SHA-256 → AES-256-GCM). Only the holder of
 * the request's private key can open the answer, so the answer may travel
 * through the stream part, relays and all.
 */

const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const
const PUBLIC_KEY_BYTES = 65
const INFO = new TextEncoder().encode('runnel group key v1')

/** A one-off key pair for one request. */
export interface ExchangeKeyPair {
  /** Uncompressed P-256 point, 65 bytes: what the request carries. */
  readonly publicKey: Uint8Array
  readonly privateKey: CryptoKey
}

export async function generateExchangeKeyPair(): Promise<ExchangeKeyPair> {
  const pair = await crypto.subtle.generateKey(ECDH, false, ['deriveBits'])
  return {
    publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)),
    privateKey: pair.privateKey,
  }
}

async function sealingKey(privateKey: CryptoKey, publicKey: CryptoKey, salt: Uint8Array): Promise<CryptoKey> {
  const shared = await crypto.subtle.deriveBits({ name: 'ECDH', public: publicKey }, privateKey, 256)
  const material = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: bufferSource(salt), info: INFO },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

async function importPublicKey(bytes: Uint8Array): Promise<CryptoKey> {
  if (bytes.length !== PUBLIC_KEY_BYTES || bytes[0] !== 0x04) {
    throw new ClientError('INVALID_ARGUMENT', 'a key-exchange public key is an uncompressed P-256 point (65 bytes)')
  }
  try {
    return await crypto.subtle.importKey('raw', bufferSource(bytes), ECDH, false, [])
  } catch (err) {
    throw new ClientError('INVALID_ARGUMENT', 'the key-exchange public key is not a point on P-256', { cause: err })
  }
}

/** Seals a group key to a requester's public key: ephemeral public key ‖ IV ‖ sealed key. */
export async function sealGroupKey(recipientPublicKey: Uint8Array, key: GroupKey): Promise<Uint8Array> {
  const recipient = await importPublicKey(recipientPublicKey)
  const ephemeral = await crypto.subtle.generateKey(ECDH, false, ['deriveBits'])
  const ephemeralPublic = new Uint8Array(await crypto.subtle.exportKey('raw', ephemeral.publicKey))
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const aes = await sealingKey(ephemeral.privateKey, recipient, recipientPublicKey)
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, bufferSource(key.bytes)))
  const out = new Uint8Array(PUBLIC_KEY_BYTES + 12 + sealed.length)
  out.set(ephemeralPublic)
  out.set(iv, PUBLIC_KEY_BYTES)
  out.set(sealed, PUBLIC_KEY_BYTES + 12)
  return out
}

/** @throws {@link ClientError} `DECRYPTION_FAILED` when the data wasn't sealed to this key pair. */
export async function openGroupKey(pair: ExchangeKeyPair, id: string, data: Uint8Array): Promise<GroupKey> {
  try {
    const ephemeral = await importPublicKey(data.subarray(0, PUBLIC_KEY_BYTES))
    const iv = data.subarray(PUBLIC_KEY_BYTES, PUBLIC_KEY_BYTES + 12)
    const aes = await sealingKey(pair.privateKey, ephemeral, pair.publicKey)
    const bytes = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bufferSource(iv) },
      aes,
      bufferSource(data.subarray(PUBLIC_KEY_BYTES + 12)),
    )
    return new GroupKey(id, new Uint8Array(bytes))
  } catch (err) {
    throw new ClientError('DECRYPTION_FAILED', `group key ${id} doesn't open with this request's key`, { cause: err })
  }
}
