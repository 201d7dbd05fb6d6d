import { bytesToHex } from '@runnel/protocol'
import { ClientError } from '../errors.js'

const IV_BYTES = 12

/** Web Crypto's types want ArrayBuffer-backed views; ours always are. */
export function bufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>
}
const KEY_BYTES = 32

function subtle(): SubtleCrypto {
  const crypto = globalThis.crypto
  if (crypto?.subtle === undefined) {
    throw new ClientError(
      'ENCRYPTION_FAILED',
      'Web Crypto (crypto.subtle) is not available: a secure context is needed',
    )
  }
  return crypto.subtle
}

function randomId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  return bytesToHex(bytes)
}

/**
 * A stream's symmetric content key: AES-256-GCM with a random 96-bit IV per
 * message (ciphertext = IV ‖ encrypted content ‖ 128-bit tag). Keys are
 * named by a random id that travels in each message's `groupKeyId`.
 *
 * @example
 * ```ts
 * const key = GroupKey.generate()
 * const sealed = await key.encrypt(new TextEncoder().encode('{"celsius":21.5}'))
 * const opened = await key.decrypt(sealed)
 * ```
 */
export class GroupKey {
  private cryptoKey: Promise<CryptoKey> | undefined

  constructor(
    readonly id: string,
    readonly bytes: Uint8Array,
  ) {
    if (bytes.length !== KEY_BYTES) {
      throw new ClientError('INVALID_ARGUMENT', `a group key is ${KEY_BYTES} bytes, got ${bytes.length}`)
    }
    if (!/^[\x21-\x7e]{1,128}$/.test(id)) {
      throw new ClientError('INVALID_ARGUMENT', 'a group key id is 1–128 printable ASCII characters')
    }
  }

  /** A new random key with a new random id. */
  static generate(): GroupKey {
    return new GroupKey(randomId(), globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES)))
  }

  async encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES))
    const sealed = new Uint8Array(
      await subtle().encrypt({ name: 'AES-GCM', iv }, await this.key(), bufferSource(plaintext)),
    )
    const out = new Uint8Array(IV_BYTES + sealed.length)
    out.set(iv)
    out.set(sealed, IV_BYTES)
    return out
  }

  /** @throws {@link ClientError} `DECRYPTION_FAILED` when the data wasn't sealed with this key (or was altered). */
  async decrypt(data: Uint8Array): Promise<Uint8Array> {
    if (data.length < IV_BYTES + 16) throw new ClientError('DECRYPTION_FAILED', 'the ciphertext is too short')
    try {
      const iv = data.subarray(0, IV_BYTES)
      return new Uint8Array(
        await subtle().decrypt(
          { name: 'AES-GCM', iv: bufferSource(iv) },
          await this.key(),
          bufferSource(data.subarray(IV_BYTES)),
        ),
      )
    } catch (err) {
      throw new ClientError('DECRYPTION_FAILED', `content doesn't open with group key ${this.id}`, { cause: err })
    }
  }

  /** Seals another key with this one: how a rotation hands the next key to those who hold this one. */
  async encryptNextKey(next: GroupKey): Promise<Uint8Array> {
    return this.encrypt(next.bytes)
  }

  /** Opens a key sealed by {@link encryptNextKey}. */
  async decryptNextKey(id: string, data: Uint8Array): Promise<GroupKey> {
    return new GroupKey(id, await this.decrypt(data))
  }

  private key(): Promise<CryptoKey> {
    this.cryptoKey ??= subtle().importKey('raw', bufferSource(this.bytes), 'AES-GCM', false, ['encrypt', 'decrypt'])
    return this.cryptoKey
  }
}
