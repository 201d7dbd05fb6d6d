import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import {
  addressFromBytes,
  addressToBytes,
  checkSignatureFormat,
  createTaggedPayload,
  type MessageSigner,
  type PlacementConstraint,
  type SignatureVerifier,
} from '@runnel/protocol'
import { placementToProto } from '../overlay/placement.js'
import {
  TrackerAction,
  TrackerRequestSchema,
  type SignedTrackerRequest,
  type TrackerRequest,
} from '../generated/runnel/network/v1/network_pb.js'
import type { NodeId } from '../identity.js'

export interface TrackerStatus {
  readonly streamPartId: string
  readonly action: 'status' | 'leave'
  readonly neighborIds: readonly NodeId[]
  readonly wanted: number
  /** The stream part's placement constraint as the node read it (status reports only). */
  readonly placement?: PlacementConstraint | undefined
}

function signedPayload(request: Uint8Array): Uint8Array {
  return createTaggedPayload('tracker', request)
}

/** Encodes and signs a node's report to its tracker. */
export async function signTrackerRequest(
  signer: MessageSigner,
  sequence: number,
  status: TrackerStatus,
): Promise<Omit<SignedTrackerRequest, '$typeName'>> {
  const request = toBinary(
    TrackerRequestSchema,
    create(TrackerRequestSchema, {
      nodeId: addressToBytes(signer.address),
      sequence: BigInt(sequence),
      streamPartId: status.streamPartId,
      action: status.action === 'leave' ? TrackerAction.LEAVE : TrackerAction.STATUS,
      neighborIds: status.neighborIds.map((id) => addressToBytes(id)),
      wanted: status.wanted,
      placement: placementToProto(status.placement),
    }),
  )
  return { request, signature: await signer.signPersonalMessage(signedPayload(request)) }
}

/** A request whose signature checked out, with its sender. */
export interface VerifiedTrackerRequest {
  readonly nodeId: NodeId
  readonly request: TrackerRequest
}

/**
 * Decodes a signed request and checks that its signature was made by the
 * node it names. Returns undefined for anything malformed, unsigned or forged.
 */
export function openTrackerRequest(
  verifier: SignatureVerifier,
  signed: SignedTrackerRequest,
): VerifiedTrackerRequest | undefined {
  try {
    checkSignatureFormat(signed.signature)
  } catch {
    return undefined
  }
  let request: TrackerRequest
  try {
    request = fromBinary(TrackerRequestSchema, signed.request, { readUnknownFields: false })
  } catch {
    return undefined
  }
  if (request.nodeId.length !== 20 || request.neighborIds.some((id) => id.length !== 20)) return undefined
  const nodeId = addressFromBytes(request.nodeId)
  if (verifier.recoverPersonalMessageSigner(signedPayload(signed.request), signed.signature) !== nodeId) {
    return undefined
  }
  return { nodeId, request }
}
