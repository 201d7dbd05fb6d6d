import { addressFromBytes, bytesToHex, keccak256 } from '@runnel/protocol'
import { nodeIdBytes, type NodeId } from '../identity.js'

/** Length of node ids and keys in bytes: the DHT's metric is XOR over 160 bits. */
export const DHT_KEY_LENGTH = 20

const textEncoder = new TextEncoder()
const STREAM_PART_TAG = 'runnel/v1/stream-part\0'

/**
 * The DHT key under which a stream part's records live: the first 20 bytes of
 * keccak256 over a tagged stream part id, so keys spread evenly over the id
 * space whatever the stream names look like.
 *
 * @example
 * ```ts
 * const records = await dht.findRecords(dhtKeyOfStreamPart(streamPartId))
 * ```
 */
export function dhtKeyOfStreamPart(streamPartId: string): Uint8Array {
  return keccak256(textEncoder.encode(STREAM_PART_TAG + streamPartId)).slice(0, DHT_KEY_LENGTH)
}

/** A node id's 20 bytes as used in distances (see `nodeIdBytes`): shared, so never modify it. */
export function nodeIdToKey(nodeId: NodeId): Uint8Array {
  return nodeIdBytes(nodeId)
}

export function keyToNodeId(key: Uint8Array): NodeId {
  return addressFromBytes(key)
}

/**
 * Which of `a` and `b` is closer to `target`: negative when `a`, positive
 * when `b`, 0 when equal. Compares byte by byte without allocating.
 */
export function compareDistance(target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let index = 0; index < DHT_KEY_LENGTH; index++) {
    const t = target[index]!
    const difference = (a[index]! ^ t) - (b[index]! ^ t)
    if (difference !== 0) return difference
  }
  return 0
}

/** The XOR distance as a 160-bit number, for tests and logs. */
export function distance(a: Uint8Array, b: Uint8Array): bigint {
  let result = 0n
  for (let index = 0; index < DHT_KEY_LENGTH; index++) result = (result << 8n) | BigInt(a[index]! ^ b[index]!)
  return result
}

/**
 * Length of the common prefix of `a` and `b` in bits (160 when equal): the
 * index of the bucket `b` falls in, seen from `a`.
 */
export function commonPrefixLength(a: Uint8Array, b: Uint8Array): number {
  for (let index = 0; index < DHT_KEY_LENGTH; index++) {
    const x = a[index]! ^ b[index]!
    if (x !== 0) return index * 8 + Math.clz32(x) - 24
  }
  return DHT_KEY_LENGTH * 8
}

export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false
  return true
}

/**
 * A random key whose common prefix with `base` is exactly `prefixLength` bits:
 * a lookup for it refreshes that bucket.
 */
export function randomKeyInBucket(base: Uint8Array, prefixLength: number, random: () => number): Uint8Array {
  const key = new Uint8Array(DHT_KEY_LENGTH)
  for (let index = 0; index < DHT_KEY_LENGTH; index++) key[index] = Math.floor(random() * 256)
  const fullBytes = Math.floor(prefixLength / 8)
  key.set(base.subarray(0, fullBytes))
  if (fullBytes < DHT_KEY_LENGTH) {
    const bit = prefixLength % 8
    const keepMask = (0xff << (8 - bit)) & 0xff
    const flip = 0x80 >> bit
    // Same first `bit` bits as base, the next one flipped, the rest random.
    key[fullBytes] = (base[fullBytes]! & keepMask) | ((base[fullBytes]! & flip) ^ flip) | (key[fullBytes]! & (flip - 1))
  }
  return key
}

export function keyToHex(key: Uint8Array): string {
  return bytesToHex(key)
}
