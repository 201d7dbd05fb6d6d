import { fromBinary, toBinary, create } from '@bufbuild/protobuf'
import { addressToBytes } from '@runnel/protocol'
import { NodeDescriptorSchema } from '../generated/runnel/network/v1/network_pb.js'
import { ipSubnetGroup, isPrivateAddress } from '../dht/subnet.js'
import { descriptorFromProto, descriptorToProto, type NodeDescriptor, type NodeId } from '../identity.js'

/**
 * The entry-point records of trackerless discovery, as pure functions: what
 * a record holds, which records to believe, and whether this node should hold
 * one. `DhtDiscovery` does the lookups and stores.
 */

/** A record as the DHT returns it (signature already checked against `owner`; see `DhtRecord`). */
export interface EntryPointRecord {
  readonly owner: NodeId
  /** The owner's encoded `NodeDescriptor`. */
  readonly value: Uint8Array
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
  /** The node whose answer carried it (see `DhtRecord.from`). */
  readonly from?: NodeId
}

/** When entry-point records expire and are refreshed, and how many a stream part aims for. */
export interface EntryPointTiming {
  /** Lifetime of a stored record. */
  readonly ttlMs: number
  /** How often a holder stores its record again; well under `ttlMs`, so a live holder's record never lapses. */
  readonly refreshMs: number
  /** Entry points a stream part aims for: fewer live ones and a joining node stores its own. */
  readonly target: number
}

/**
 * 60 s lifetime, refreshed every 20 s (a holder may miss two refreshes before its record lapses), 8 entry points.
 */
export const DEFAULT_ENTRY_POINT_TIMING: EntryPointTiming = Object.freeze({
  ttlMs: 60_000,
  refreshMs: 20_000,
  target: 8,
})

/** The value of this node's entry-point record. */
export function encodeEntryPoint(descriptor: NodeDescriptor): Uint8Array {
  return toBinary(NodeDescriptorSchema, create(NodeDescriptorSchema, descriptorToProto(descriptor)))
}

/** Why a record was not believed (the metrics count each). */
export type RecordRefusal = 'malformed' | 'owner-mismatch' | 'not-full' | 'no-address' | 'subnet-cap'

/**
 * Default most entry points of one stream part believed from one /24 (IPv4) or /48
 * (IPv6), by the address in their record (`DhtNodeOptions.maxEntryPointsPerSubnet`): many identities from one range
 * can't pose as all of a stream part's live entry points (so that no honest
 * node stores a record) nor be all the candidates a joiner asks.
 */
export const MAX_ENTRY_POINTS_PER_SUBNET = 2

/**
 * The network group an entry point's record puts it in (see `subnetGroup`);
 * undefined for loopback, private, WebRTC-only (`webrtc:<id>`), host-name
 * and plain simulator addresses, which are not capped (a local network may
 * run every node in one /24).
 */
export function entryPointGroup(descriptor: NodeDescriptor): string | undefined {
  const address = descriptor.addresses[0]
  if (address === undefined || isPrivateAddress(address)) return undefined
  return ipSubnetGroup(address, true)
}

/**
 * The descriptor in a record, or why it is refused: the value must decode as
 * a valid `NodeDescriptor` of a full node with an address, and name the
 * record's owner (the key that signed it), so no node can advertise another
 * as an entry point.
 */
export function openEntryPoint(
  record: EntryPointRecord,
): { descriptor: NodeDescriptor; refusal?: undefined } | { descriptor?: undefined; refusal: RecordRefusal } {
  let descriptor: NodeDescriptor
  try {
    descriptor = descriptorFromProto(fromBinary(NodeDescriptorSchema, record.value, { readUnknownFields: false }))
  } catch {
    return { refusal: 'malformed' }
  }
  if (descriptor.nodeId !== record.owner) return { refusal: 'owner-mismatch' }
  if (descriptor.kind !== 'full') return { refusal: 'not-full' }
  if (descriptor.addresses.length === 0) return { refusal: 'no-address' }
  return { descriptor }
}

/**
 * Whether a record was refreshed on time: a live holder stores it every
 * `refreshMs`, so one with less than `ttlMs - 1.5 × refreshMs` left has
 * missed a refresh, and its holder has likely gone (it still counts as a
 * candidate to ask, not as a live entry point).
 */
export function isFresh(record: EntryPointRecord, now: number, timing: EntryPointTiming): boolean {
  return record.expiresAt - now >= timing.ttlMs - 1.5 * timing.refreshMs
}

/** XOR distance between two 20-byte ids, compared as big-endian bytes: negative when `a` is closer to `key`. */
function compareDistance(key: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < key.length; i++) {
    const difference = (a[i]! ^ key[i]!) - (b[i]! ^ key[i]!)
    if (difference !== 0) return difference
  }
  return 0
}

/**
 * Whether this node should hold (store and refresh) an entry-point record:
 * yes while fewer than `target` other live holders exist, and, once more
 * exist, only while it is among the `target` ids closest to the key (XOR)
 * among the live holders and itself. Every node sees about the same records,
 * so the surplus of many nodes joining at once drops out within a refresh,
 * and the same nodes stay entry points.
 */
export function shouldHoldEntryPoint(
  key: Uint8Array,
  selfId: NodeId,
  liveHolders: readonly NodeId[],
  target: number,
): boolean {
  const others = liveHolders.filter((id) => id !== selfId)
  if (others.length < target) return true
  const self = addressToBytes(selfId)
  let closer = 0
  for (const id of others) if (compareDistance(key, addressToBytes(id), self) < 0) closer++
  return closer < target
}

/** A uniformly shuffled copy (Fisher–Yates) with `random()` in [0, 1). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
  }
  return copy
}
