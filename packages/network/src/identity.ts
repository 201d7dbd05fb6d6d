import {
  addressFromBytes,
  addressToBytes,
  parseCountryCode,
  parseRegion,
  type EthereumAddress,
  type NodeLocation,
} from '@runnel/protocol'
import { NetworkError } from './errors.js'
import { WeakValues } from './WeakValues.js'
import {
  NodeKind as NodeKindProto,
  type NodeDescriptor as NodeDescriptorProto,
} from './generated/runnel/network/v1/network_pb.js'
import { NETWORK_PROTOCOL_VERSION } from './wire/frames.js'

/** A node is identified by the Ethereum address of its key. */
export type NodeId = EthereumAddress

export type NodeKind = 'full' | 'light' | 'tracker'

/** What a node tells its peers about itself in the handshake. */
export interface NodeDescriptor {
  readonly nodeId: NodeId
  readonly kind: NodeKind
  /** Where the node accepts connections; empty for dial-only nodes. */
  readonly addresses: readonly string[]
  readonly protocolVersion: number
  /** Where the node says it runs; undefined when it doesn't say (see `NetworkNodeOptions.location`). */
  readonly location?: NodeLocation
}

const MAX_ADDRESSES = 8
const MAX_ADDRESS_LENGTH = 256

const kindToProto: Record<NodeKind, NodeKindProto> = {
  full: NodeKindProto.FULL,
  light: NodeKindProto.LIGHT,
  tracker: NodeKindProto.TRACKER,
}

/**
 * The descriptor as its wire message. Its parts are the descriptor's own
 * (shared, never modified): encoders only read them, and the DHT keeps one
 * of these per contact it names in answers.
 */
export function descriptorToProto(descriptor: NodeDescriptor): Omit<NodeDescriptorProto, '$typeName'> {
  return {
    nodeId: nodeIdBytes(descriptor.nodeId),
    protocolVersion: descriptor.protocolVersion,
    kind: kindToProto[descriptor.kind],
    addresses: descriptor.addresses as string[],
    country: descriptor.location?.country ?? '',
    region: descriptor.location?.region ?? '',
  }
}

/**
 * A location from the wire: each field empty or as `parseNodeLocation` leaves it (upper-case assigned country
 * code, lower-case region), else the handshake fails, as the peer signed exactly what it sent.
 */
function locationFromProto(country: string, region: string): NodeLocation | undefined {
  if (country === '' && region === '') return undefined
  try {
    const location = {
      ...(country === '' ? {} : { country: parseCountryCode(country) }),
      ...(region === '' ? {} : { region: parseRegion(region) }),
    }
    if ((location.country ?? '') !== country || (location.region ?? '') !== region) throw new Error('not normalized')
    return location
  } catch (err) {
    throw new NetworkError(
      'HANDSHAKE_FAILED',
      `invalid location: country ${JSON.stringify(country.slice(0, 8))}, region ${JSON.stringify(region.slice(0, 70))}`,
      { cause: err },
    )
  }
}

/**
 * Validates a descriptor received from a peer.
 *
 * @throws {@link NetworkError} `HANDSHAKE_FAILED`
 */
export function descriptorFromProto(proto: NodeDescriptorProto | undefined): NodeDescriptor {
  if (proto === undefined) {
    throw new NetworkError('HANDSHAKE_FAILED', 'descriptor missing')
  }
  if (proto.nodeId.length !== 20) {
    throw new NetworkError('HANDSHAKE_FAILED', `node id must be 20 bytes, got ${proto.nodeId.length}`)
  }
  if (proto.protocolVersion !== NETWORK_PROTOCOL_VERSION) {
    throw new NetworkError(
      'HANDSHAKE_FAILED',
      `peer speaks network protocol ${proto.protocolVersion}, this node speaks ${NETWORK_PROTOCOL_VERSION}`,
    )
  }
  const kind = (Object.keys(kindToProto) as NodeKind[]).find((key) => kindToProto[key] === proto.kind)
  if (kind === undefined) {
    throw new NetworkError('HANDSHAKE_FAILED', `unknown node kind ${proto.kind}`)
  }
  if (proto.addresses.length > MAX_ADDRESSES || proto.addresses.some((a) => a.length > MAX_ADDRESS_LENGTH)) {
    throw new NetworkError('HANDSHAKE_FAILED', `at most ${MAX_ADDRESSES} addresses of ${MAX_ADDRESS_LENGTH} characters`)
  }
  const location = locationFromProto(proto.country, proto.region)
  return intern({
    nodeId: addressFromBytes(proto.nodeId),
    kind,
    addresses: proto.addresses,
    protocolVersion: proto.protocolVersion,
    ...(location === undefined ? {} : { location }),
  })
}

/**
 * A node id's 20 bytes, one shared array per live id: never modify it. A
 * trackerless node holds its contacts' and candidates' (~60) as DHT keys and
 * in encoded descriptors, and the same ids recur in every lookup and sort.
 */
export function nodeIdBytes(nodeId: NodeId): Uint8Array {
  return nodeIdsAsBytes.get(nodeId, () => addressToBytes(nodeId))
}

const nodeIdsAsBytes = new WeakValues<NodeId, Uint8Array>()

/**
 * Live descriptors by their content. A node decodes the same peer's descriptor
 * again and again (its hello, every DHT answer and record naming it) and keeps
 * many (contacts, connections, records, lookups): a trackerless node held ~130,
 * 200 bytes each, for ~40 distinct peers. Descriptors are immutable values, so
 * equal ones can be one object; held weakly, so the table never keeps one alive.
 */
const liveDescriptors = new WeakValues<string, NodeDescriptor>()

function intern(descriptor: NodeDescriptor): NodeDescriptor {
  const { location } = descriptor
  // JSON, not a separator: fields from the wire may hold any character, and two different descriptors must never share a key.
  const key = JSON.stringify([
    descriptor.nodeId,
    descriptor.kind,
    descriptor.protocolVersion,
    location?.country,
    location?.region,
    descriptor.addresses,
  ])
  return liveDescriptors.intern(key, descriptor)
}

const textEncoder = new TextEncoder()
const HANDSHAKE_TAG = textEncoder.encode('runnel/v1/handshake\0')

/**
 * The bytes a node signs to prove it holds its key: the peer's nonce and every
 * descriptor field, in a fixed layout (docs/network.md, "Handshake"). A
 * location adds its country and region, each a length byte and its bytes, at
 * the end; without one the layout is what it was before locations.
 */
export function createHandshakePayload(peerNonce: Uint8Array, descriptor: NodeDescriptor): Uint8Array {
  const addresses = descriptor.addresses.map((address) => textEncoder.encode(address))
  // An empty location is sent as no location (both proto fields empty), so it must sign as none.
  const location =
    descriptor.location?.country === undefined && descriptor.location?.region === undefined
      ? []
      : [textEncoder.encode(descriptor.location.country ?? ''), textEncoder.encode(descriptor.location.region ?? '')]
  const length =
    HANDSHAKE_TAG.length +
    peerNonce.length +
    20 +
    1 +
    4 +
    1 +
    addresses.reduce((sum, a) => sum + 2 + a.length, 0) +
    location.reduce((sum, field) => sum + 1 + field.length, 0)
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  let at = 0
  out.set(HANDSHAKE_TAG, at)
  at += HANDSHAKE_TAG.length
  out.set(peerNonce, at)
  at += peerNonce.length
  out.set(addressToBytes(descriptor.nodeId), at)
  at += 20
  out[at++] = kindToProto[descriptor.kind]
  view.setUint32(at, descriptor.protocolVersion)
  at += 4
  out[at++] = addresses.length
  for (const address of addresses) {
    view.setUint16(at, address.length)
    out.set(address, at + 2)
    at += 2 + address.length
  }
  for (const field of location) {
    out[at++] = field.length
    out.set(field, at)
    at += field.length
  }
  return out
}
