import { checkSignatureFormat, createTaggedPayload, type MessageSigner, type SignatureVerifier } from '@runnel/protocol'
import { bytesToHex, hexToBytes } from 'viem'
import { ClientError } from '../../errors.js'
import { fromBase64, toBase64 } from '../messages.js'

/**
 * The records of threshold key custody (docs/protocol.md, "Key custody"):
 * a publisher's signed manifest of one group key's shares, the body that
 * deposits one share on a storage node, a subscriber's signed share request
 * and a storage node's reply. Each signed record travels as the exact JSON
 * text that was signed, so nobody has to re-serialise JSON to check it.
 */

/** What the publisher states about one group key it put in custody. */
export interface KeyCustodyManifest {
  readonly version: 1
  readonly streamId: string
  /** The publisher (lowercase): the key is its key, and it signs the manifest. */
  readonly publisherId: string
  readonly groupKeyId: string
  /** Shares needed to rebuild the key, 2 ≤ threshold ≤ holders. */
  readonly threshold: number
  /** The storage nodes that were sent a share (lowercase addresses), one share each. */
  readonly holders: readonly string[]
  /** base64 of SHA-256(`runnel/v1/key-commitment` ‖ 0x00 ‖ key): whoever rebuilds the key checks it against this. */
  readonly commitment: string
  /** When the shares were made, ms since the Unix epoch. */
  readonly createdAt: number
}

/** A manifest as carried: its JSON text and the publisher's signature over it. */
export interface SignedManifest {
  readonly manifest: string
  /** `0x` + 130 hex digits: personal_sign over `runnel/v1/key-custody` ‖ 0x00 ‖ UTF-8 of `manifest`. */
  readonly signature: string
}

/** `POST /custody/shares`: one share for the storage node it is sent to. */
export interface ShareDeposit extends SignedManifest {
  /** base64 of the share sealed to the node's secp256k1 key (see sealing.ts), 94 bytes. */
  readonly share: string
}

/** What a subscriber asks the storage nodes for. */
export interface ShareRequest {
  readonly streamId: string
  readonly publisherId: string
  readonly groupKeyIds: readonly string[]
  /** Who asks (lowercase); it signs the request and needs subscribe permission now. */
  readonly requester: string
  /** base64 of a one-off P-256 public key (65 bytes uncompressed): the shares come back sealed to it. */
  readonly publicKey: string
  /** When it was signed, ms since the Unix epoch: nodes refuse requests older (or further ahead) than a minute. */
  readonly timestamp: number
}

/** `POST /custody/keys`: a share request as carried. */
export interface SignedShareRequest {
  readonly request: string
  /** personal_sign over `runnel/v1/key-custody-request` ‖ 0x00 ‖ UTF-8 of `request`. */
  readonly signature: string
}

/** A storage node's answer: its share of each asked key it holds, resealed to the request's public key. */
export interface ShareReply {
  readonly shares: readonly ShareDeposit[]
}

/** Most storage nodes a key is shared among: bounds the work of one key and the size of a manifest. */
export const MAX_HOLDERS = 32
/** Most key ids in one share request. */
export const MAX_KEYS_PER_SHARE_REQUEST = 100
/** Longest record text a node reads (a manifest with 32 holders is about 1.6 kB). */
export const MAX_RECORD_CHARS = 4_096

const ADDRESS = /^0x[0-9a-f]{40}$/
const KEY_ID = /^[\x21-\x7e]{1,128}$/
const SIGNATURE_HEX = /^0x[0-9a-f]{130}$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const MANIFEST_TAG = 'key-custody'
const REQUEST_TAG = 'key-custody-request'
const COMMITMENT_TAG = new TextEncoder().encode('runnel/v1/key-commitment\0')
const textEncoder = new TextEncoder()

function bad(what: string): ClientError {
  return new ClientError('INVALID_ARGUMENT', `malformed key custody ${what}`)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseJsonText(text: unknown, what: string): Record<string, unknown> {
  if (typeof text !== 'string' || text.length > MAX_RECORD_CHARS)
    throw bad(`${what}: not a string of at most ${MAX_RECORD_CHARS} characters`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw bad(`${what}: not JSON`)
  }
  if (!isRecord(json)) throw bad(`${what}: not a JSON object`)
  return json
}

function checkStreamId(value: unknown, what: string): string {
  // The stream id's own rules are the chain's; here only its shape and size matter.
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) throw bad(`${what}: streamId`)
  return value
}

function checkBase64(value: unknown, what: string, maxChars: number): string {
  if (typeof value !== 'string' || value.length > maxChars || value.length % 4 !== 0 || !BASE64.test(value)) {
    throw bad(what)
  }
  return value
}

/** The key commitment a manifest carries. */
export async function keyCommitment(key: Uint8Array): Promise<string> {
  const input = new Uint8Array(COMMITMENT_TAG.length + key.length)
  input.set(COMMITMENT_TAG)
  input.set(key, COMMITMENT_TAG.length)
  return toBase64(new Uint8Array(await crypto.subtle.digest('SHA-256', input)))
}

/** @throws {@link ClientError} `INVALID_ARGUMENT` naming the field that breaks the rules */
export function parseManifest(text: string): KeyCustodyManifest {
  const json = parseJsonText(text, 'manifest')
  const { version, publisherId, groupKeyId, threshold, holders, commitment, createdAt } = json
  if (version !== 1) throw bad('manifest: version must be 1')
  const streamId = checkStreamId(json.streamId, 'manifest')
  if (typeof publisherId !== 'string' || !ADDRESS.test(publisherId)) throw bad('manifest: publisherId')
  if (typeof groupKeyId !== 'string' || !KEY_ID.test(groupKeyId)) throw bad('manifest: groupKeyId')
  if (
    !Array.isArray(holders) ||
    holders.length < 2 ||
    holders.length > MAX_HOLDERS ||
    !holders.every((holder) => typeof holder === 'string' && ADDRESS.test(holder)) ||
    new Set(holders).size !== holders.length
  ) {
    throw bad(`manifest: holders must be 2–${MAX_HOLDERS} distinct lowercase addresses`)
  }
  if (!Number.isSafeInteger(threshold) || (threshold as number) < 2 || (threshold as number) > holders.length) {
    throw bad('manifest: threshold must be an integer from 2 to the number of holders')
  }
  checkBase64(commitment, 'manifest: commitment', 44)
  if (!Number.isSafeInteger(createdAt) || (createdAt as number) < 0) throw bad('manifest: createdAt')
  return {
    version: 1,
    streamId,
    publisherId,
    groupKeyId,
    threshold: threshold as number,
    holders: holders as string[],
    commitment: commitment as string,
    createdAt: createdAt as number,
  }
}

/** Signs a manifest; the text returned is what travels and what the signature covers. */
export async function signManifest(manifest: KeyCustodyManifest, signer: MessageSigner): Promise<SignedManifest> {
  const text = JSON.stringify(manifest)
  const signature = await signer.signPersonalMessage(createTaggedPayload(MANIFEST_TAG, textEncoder.encode(text)))
  return { manifest: text, signature: bytesToHex(signature) }
}

/**
 * Parses a signed manifest and checks that its publisher signed it.
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` when malformed or signed by anyone else
 */
export function openManifest(signed: SignedManifest, verifier: SignatureVerifier): KeyCustodyManifest {
  const manifest = parseManifest(signed.manifest)
  const signer = recoverSigner(MANIFEST_TAG, signed.manifest, signed.signature, verifier, 'manifest')
  if (signer !== manifest.publisherId)
    throw bad(`manifest: signed by ${signer}, not its publisher ${manifest.publisherId}`)
  return manifest
}

/** @throws {@link ClientError} `INVALID_ARGUMENT` for anything but a deposit body of the right shape */
export function parseShareDeposit(json: unknown): ShareDeposit {
  if (!isRecord(json)) throw bad('share deposit: not a JSON object')
  const { manifest, signature, share } = json
  if (typeof manifest !== 'string') throw bad('share deposit: manifest')
  if (typeof signature !== 'string') throw bad('share deposit: signature')
  return { manifest, signature, share: checkBase64(share, 'share deposit: share', 400) }
}

/** Signs a share request; the text returned is what travels and what the signature covers. */
export async function signShareRequest(request: ShareRequest, signer: MessageSigner): Promise<SignedShareRequest> {
  const text = JSON.stringify(request)
  const signature = await signer.signPersonalMessage(createTaggedPayload(REQUEST_TAG, textEncoder.encode(text)))
  return { request: text, signature: bytesToHex(signature) }
}

/**
 * Parses a signed share request and checks that its requester signed it (not
 * its freshness, nor permission: the storage node does that).
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` when malformed; `PERMISSION_DENIED` when signed by anyone but the requester
 */
export function openShareRequest(json: unknown, verifier: SignatureVerifier): ShareRequest {
  if (!isRecord(json)) throw bad('share request: not a JSON object')
  const fields = parseJsonText(json.request, 'share request')
  const { publisherId, groupKeyIds, requester, publicKey, timestamp } = fields
  const streamId = checkStreamId(fields.streamId, 'share request')
  if (typeof publisherId !== 'string' || !ADDRESS.test(publisherId)) throw bad('share request: publisherId')
  if (
    !Array.isArray(groupKeyIds) ||
    groupKeyIds.length === 0 ||
    groupKeyIds.length > MAX_KEYS_PER_SHARE_REQUEST ||
    !groupKeyIds.every((id) => typeof id === 'string' && KEY_ID.test(id))
  ) {
    throw bad(`share request: groupKeyIds must be 1–${MAX_KEYS_PER_SHARE_REQUEST} key ids`)
  }
  if (typeof requester !== 'string' || !ADDRESS.test(requester)) throw bad('share request: requester')
  checkBase64(publicKey, 'share request: publicKey', 100)
  if (!Number.isSafeInteger(timestamp) || (timestamp as number) < 0) throw bad('share request: timestamp')
  const signer = recoverSigner(REQUEST_TAG, json.request as string, json.signature, verifier, 'share request')
  if (signer !== requester) {
    throw new ClientError(
      'PERMISSION_DENIED',
      `the share request is signed by ${signer}, not its requester ${requester}`,
    )
  }
  return {
    streamId,
    publisherId,
    groupKeyIds: groupKeyIds as string[],
    requester,
    publicKey: publicKey as string,
    timestamp: timestamp as number,
  }
}

/** @throws {@link ClientError} `INVALID_ARGUMENT` for anything but a reply of the right shape */
export function parseShareReply(json: unknown): ShareReply {
  if (!isRecord(json) || !Array.isArray(json.shares) || json.shares.length > MAX_KEYS_PER_SHARE_REQUEST) {
    throw bad('share reply')
  }
  return { shares: json.shares.map(parseShareDeposit) }
}

function recoverSigner(
  tag: string,
  text: string,
  signature: unknown,
  verifier: SignatureVerifier,
  what: string,
): string {
  if (typeof signature !== 'string' || !SIGNATURE_HEX.test(signature))
    throw bad(`${what}: signature must be 0x and 130 lowercase hex digits`)
  const bytes = hexToBytes(signature as `0x${string}`)
  try {
    checkSignatureFormat(bytes)
  } catch (err) {
    throw new ClientError('INVALID_ARGUMENT', `malformed key custody ${what}: signature`, { cause: err })
  }
  const signer = verifier.recoverPersonalMessageSigner(createTaggedPayload(tag, textEncoder.encode(text)), bytes)
  if (signer === undefined) throw bad(`${what}: the signature recovers to no key`)
  return signer.toLowerCase()
}

export { fromBase64, toBase64 }
