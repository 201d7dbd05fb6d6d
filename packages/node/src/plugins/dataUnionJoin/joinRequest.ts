import { isAddress, isHex, recoverMessageAddress, type Address, type Hex } from 'viem'
import { NodeError } from '../../errors.js'

/** What a member asks a join server for. */
export type MembershipAction = 'join' | 'part'

/** The fields a member signs, besides the action. */
export interface JoinRequestFields {
  /** The Data Union (from the request's path). */
  readonly dataUnion: string
  readonly member: string
  /** Milliseconds since the epoch, by the member's clock. */
  readonly timestamp: number
  /** App data the union's join/part stream carries along; signed with the rest. */
  readonly metadata?: string
}

/** A join or part request as the join server received it, its signature checked. */
export interface JoinRequest extends JoinRequestFields {
  readonly action: MembershipAction
  readonly dataUnion: Address
  readonly member: Address
  /** The app's shared secret (join only). */
  readonly secret?: string
  readonly signature: Hex
}

/** Longest `metadata` a request may carry, in characters. */
export const MAX_JOIN_METADATA_LENGTH = 1_024
const MAX_SECRET_LENGTH = 256

/**
 * The text a member signs (EIP-191 `personal_sign`) to ask a join server to add or part it: it names the action, the
 * union, the member and the time, so a signature is good for that one request only.
 *
 * @example
 * ```ts
 * const message = joinRequestMessage('join', { dataUnion, member: account.address, timestamp: Date.now() })
 * const signature = await account.signMessage({ message })
 * ```
 */
export function joinRequestMessage(action: MembershipAction, fields: JoinRequestFields): string {
  const lines = [
    `Runnel Data Union ${action} request`,
    `data union: ${fields.dataUnion.toLowerCase()}`,
    `member: ${fields.member.toLowerCase()}`,
    `timestamp: ${fields.timestamp}`,
  ]
  if (fields.metadata !== undefined) lines.push(`metadata: ${fields.metadata}`)
  return lines.join('\n')
}

/**
 * Decodes a request body (`{ member, timestamp, secret?, metadata?, signature }`), checking every field once.
 *
 * @throws {@link NodeError} `BAD_REQUEST` naming the field
 */
export function parseJoinBody(action: MembershipAction, dataUnion: Address, body: Uint8Array): JoinRequest {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch {
    throw new NodeError('BAD_REQUEST', 'the body is not valid JSON: expected { member, timestamp, signature, … }')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new NodeError('BAD_REQUEST', 'the body must be a JSON object { member, timestamp, signature, … }')
  }
  const body_ = value as Record<string, unknown>
  const allowed =
    action === 'join'
      ? ['member', 'timestamp', 'secret', 'metadata', 'signature']
      : ['member', 'timestamp', 'metadata', 'signature']
  for (const key of Object.keys(body_)) {
    if (!allowed.includes(key)) {
      throw new NodeError('BAD_REQUEST', `unknown field "${key.slice(0, 64)}" (expected ${allowed.join(', ')})`)
    }
  }
  const { member, timestamp, secret, metadata, signature } = body_
  if (typeof member !== 'string' || !isAddress(member, { strict: false })) {
    throw new NodeError('BAD_REQUEST', 'member must be an 0x-prefixed 20-byte hex address')
  }
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new NodeError('BAD_REQUEST', 'timestamp must be milliseconds since the epoch, a whole number')
  }
  if (secret !== undefined && (typeof secret !== 'string' || secret.length > MAX_SECRET_LENGTH)) {
    throw new NodeError('BAD_REQUEST', `secret must be a string of at most ${MAX_SECRET_LENGTH} characters`)
  }
  if (metadata !== undefined && (typeof metadata !== 'string' || metadata.length > MAX_JOIN_METADATA_LENGTH)) {
    throw new NodeError('BAD_REQUEST', `metadata must be a string of at most ${MAX_JOIN_METADATA_LENGTH} characters`)
  }
  if (typeof signature !== 'string' || !isHex(signature) || signature.length !== 132) {
    throw new NodeError('BAD_REQUEST', 'signature must be a 65-byte 0x-prefixed hex string (personal_sign)')
  }
  return {
    action,
    dataUnion,
    member: member.toLowerCase() as Address,
    timestamp,
    ...(secret !== undefined && { secret }),
    ...(metadata !== undefined && { metadata }),
    signature: signature.toLowerCase() as Hex,
  }
}

/**
 * Checks that the member signed the request, within `maxSkewMs` of `now`.
 *
 * @throws {@link NodeError} `UNAUTHORIZED`
 */
export async function verifyJoinRequest(request: JoinRequest, now: number, maxSkewMs: number): Promise<void> {
  if (Math.abs(now - request.timestamp) > maxSkewMs) {
    throw new NodeError(
      'UNAUTHORIZED',
      `the request's timestamp is more than ${Math.round(maxSkewMs / 1000)} s from this server's clock: sign a fresh one`,
    )
  }
  let signer: Address
  try {
    signer = await recoverMessageAddress({
      message: joinRequestMessage(request.action, request),
      signature: request.signature,
    })
  } catch {
    throw new NodeError('UNAUTHORIZED', 'the signature is malformed')
  }
  if (signer.toLowerCase() !== request.member) {
    throw new NodeError('UNAUTHORIZED', `the request is not signed by ${request.member}`)
  }
}
