import { ClientError } from '../errors.js'

/** Sent by a subscriber missing keys, into the stream part, to the publisher that used them. */
export interface GroupKeyRequest {
  readonly requestId: string
  /** The publisher whose keys are asked for (lowercase address): it answers, and without `anyHolder` only it. */
  readonly recipient: string
  /** base64 of the request's one-off P-256 public key: the answer is sealed to it. */
  readonly publicKey: string
  readonly groupKeyIds: readonly string[]
  /**
   * Any client that holds the keys may answer too (asked once the publisher didn't). Absent in requests of
   * clients that predate it, which such clients also ignore: only the publisher answers those.
   */
  readonly anyHolder?: true
}

/** Why a publisher refused a request. */
export type GroupKeyErrorCode = 'NO_PERMISSION' | 'RATE_LIMITED' | 'UNKNOWN_KEYS'

/** The publisher's answer: the keys sealed to the request's public key, or why not. */
export type GroupKeyResponse =
  | {
      readonly requestId: string
      /** The requester (lowercase address). */
      readonly recipient: string
      readonly keys: readonly { readonly id: string; readonly data: string }[]
    }
  | {
      readonly requestId: string
      readonly recipient: string
      readonly error: { readonly code: GroupKeyErrorCode; readonly message: string }
    }

const MAX_KEYS_PER_REQUEST = 100
const ADDRESS = /^0x[0-9a-f]{40}$/
const KEY_ID = /^[\x21-\x7e]{1,128}$/

function bad(what: string): ClientError {
  return new ClientError('INVALID_ARGUMENT', `malformed group key ${what}`)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkHeader(json: Record<string, unknown>, what: string): { requestId: string; recipient: string } {
  const { requestId, recipient } = json
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > 64) throw bad(`${what}: requestId`)
  if (typeof recipient !== 'string' || !ADDRESS.test(recipient)) throw bad(`${what}: recipient`)
  return { requestId, recipient }
}

/** @throws {@link ClientError} `INVALID_ARGUMENT` for anything but a well-formed request. */
export function parseGroupKeyRequest(json: unknown): GroupKeyRequest {
  if (!isRecord(json)) throw bad('request')
  const header = checkHeader(json, 'request')
  const { publicKey, groupKeyIds, anyHolder } = json
  if (anyHolder !== undefined && typeof anyHolder !== 'boolean') throw bad('request: anyHolder')
  if (typeof publicKey !== 'string' || publicKey.length > 200) throw bad('request: publicKey')
  if (
    !Array.isArray(groupKeyIds) ||
    groupKeyIds.length === 0 ||
    groupKeyIds.length > MAX_KEYS_PER_REQUEST ||
    !groupKeyIds.every((id) => typeof id === 'string' && KEY_ID.test(id))
  ) {
    throw bad('request: groupKeyIds')
  }
  return { ...header, publicKey, groupKeyIds: groupKeyIds as string[], ...(anyHolder === true && { anyHolder }) }
}

/** @throws {@link ClientError} `INVALID_ARGUMENT` for anything but a well-formed response. */
export function parseGroupKeyResponse(json: unknown): GroupKeyResponse {
  if (!isRecord(json)) throw bad('response')
  const header = checkHeader(json, 'response')
  if (isRecord(json.error)) {
    const { code, message } = json.error
    if (code !== 'NO_PERMISSION' && code !== 'RATE_LIMITED' && code !== 'UNKNOWN_KEYS') throw bad('response: error')
    return { ...header, error: { code, message: typeof message === 'string' ? message.slice(0, 500) : code } }
  }
  const { keys } = json
  if (
    !Array.isArray(keys) ||
    keys.length > MAX_KEYS_PER_REQUEST ||
    !keys.every(
      (key) => isRecord(key) && typeof key.id === 'string' && KEY_ID.test(key.id) && typeof key.data === 'string',
    )
  ) {
    throw bad('response: keys')
  }
  return { ...header, keys: keys as { id: string; data: string }[] }
}

export function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
