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
const IV_BYTES = 12
const GROUP_KEY_CONTEXT: ExchangeSealContext = { info: new TextEncoder().encode('runnel group key v1') }

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

/** AES-256-GCM key from an ECDH shared secret, through HKDF-SHA-256 with `salt` and `info`. */
export async function deriveSealingKey(shared: Uint8Array, salt: Uint8Array, info: Uint8Array): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', bufferSource(shared), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: bufferSource(salt), info: bufferSource(info) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

/** IV ‖ AES-GCM(plaintext): `additionalData`, when given, must be given again to open it. */
export async function sealWithKey(
  key: CryptoKey,
  plaintext: Uint8Array,
  additionalData?: Uint8Array,
): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, ...(additionalData !== undefined && { additionalData: bufferSource(additionalData) }) },
    key,
    bufferSource(plaintext),
  )
  const out = new Uint8Array(IV_BYTES + sealed.byteLength)
  out.set(iv)
  out.set(new Uint8Array(sealed), IV_BYTES)
  return out
}

/** Opens what {@link sealWithKey} sealed; rejects (Web Crypto's error) when the key or associated data differ. */
export async function openWithKey(key: CryptoKey, data: Uint8Array, additionalData?: Uint8Array): Promise<Uint8Array> {
  const opened = await crypto.subtle.decrypt(
    {
      name: 'AES-GCM',
      iv: bufferSource(data.subarray(0, IV_BYTES)),
      ...(additionalData !== undefined && { additionalData: bufferSource(additionalData) }),
    },
    key,
    bufferSource(data.subarray(IV_BYTES)),
  )
  return new Uint8Array(opened)
}

async function sharedSecret(privateKey: CryptoKey, publicKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: publicKey }, privateKey, 256))
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

/** What a seal to a request's key is bound to: its HKDF info, and associated data the opener must present. */
export interface ExchangeSealContext {
  readonly info: Uint8Array
  readonly additionalData?: Uint8Array
}

/**
 * Seals bytes to a request's one-off public key: ephemeral public key (65 bytes) ‖ IV ‖ AES-GCM(plaintext).
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` when the public key isn't an uncompressed P-256 point
 */
export async function sealToExchangeKey(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  context: ExchangeSealContext,
): Promise<Uint8Array> {
  const recipient = await importPublicKey(recipientPublicKey)
  const ephemeral = await crypto.subtle.generateKey(ECDH, false, ['deriveBits'])
  const ephemeralPublic = new Uint8Array(await crypto.subtle.exportKey('raw', ephemeral.publicKey))
  const shared = await sharedSecret(ephemeral.privateKey, recipient)
  const aes = await deriveSealingKey(shared, recipientPublicKey, context.info)
  const sealed = await sealWithKey(aes, plaintext, context.additionalData)
  const out = new Uint8Array(PUBLIC_KEY_BYTES + sealed.length)
  out.set(ephemeralPublic)
  out.set(sealed, PUBLIC_KEY_BYTES)
  return out
}

/** Opens what {@link sealToExchangeKey} sealed to this pair; rejects when it wasn't, or the context differs. */
export async function openWithExchangeKey(
  pair: ExchangeKeyPair,
  data: Uint8Array,
  context: ExchangeSealContext,
): Promise<Uint8Array> {
  const ephemeral = await importPublicKey(data.subarray(0, PUBLIC_KEY_BYTES))
  const aes = await deriveSealingKey(await sharedSecret(pair.privateKey, ephemeral), pair.publicKey, context.info)
  return openWithKey(aes, data.subarray(PUBLIC_KEY_BYTES), context.additionalData)
}

/** Seals a group key to a requester's public key: ephemeral public key ‖ IV ‖ sealed key. */
export function sealGroupKey(recipientPublicKey: Uint8Array, key: GroupKey): Promise<Uint8Array> {
  return sealToExchangeKey(recipientPublicKey, key.bytes, GROUP_KEY_CONTEXT)
}

/** @throws {@link ClientError} `DECRYPTION_FAILED` when the data wasn't sealed to this key pair. */
export async function openGroupKey(pair: ExchangeKeyPair, id: string, data: Uint8Array): Promise<GroupKey> {
  try {
    return new GroupKey(id, await openWithExchangeKey(pair, data, GROUP_KEY_CONTEXT))
  } catch (err) {
    throw new ClientError('DECRYPTION_FAILED', `group key ${id} doesn't open with this request's key`, { cause: err })
  }
}
