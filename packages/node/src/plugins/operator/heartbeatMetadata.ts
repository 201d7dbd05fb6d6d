/** What a node says of itself in its heartbeat: how to reach it on the network. */
export interface HeartbeatMetadata {
  /** Its network node id (its key's address, lowercase). */
  readonly nodeId: string
  /** Where it accepts connections (ws:// URLs, …). */
  readonly addresses: readonly string[]
}

/** The Operator contract's limit (MAX_HEARTBEAT_BYTES). */
export const MAX_HEARTBEAT_BYTES = 1000
const MAX_ADDRESSES = 8
const MAX_ADDRESS_LENGTH = 256

/** The JSON sent as heartbeat metadata; addresses beyond what fits the contract's limit are left out. */
export function encodeHeartbeat(metadata: HeartbeatMetadata): string {
  const addresses = metadata.addresses.slice(0, MAX_ADDRESSES).filter((a) => a.length <= MAX_ADDRESS_LENGTH)
  let json = JSON.stringify({ nodeId: metadata.nodeId, addresses })
  while (new TextEncoder().encode(json).length > MAX_HEARTBEAT_BYTES && addresses.length > 1) {
    addresses.pop()
    json = JSON.stringify({ nodeId: metadata.nodeId, addresses })
  }
  return json
}

/**
 * Reads another operator's heartbeat metadata: untrusted chain data, so anything that isn't the expected shape
 * within the limits is `undefined`, never an exception.
 */
export function decodeHeartbeat(json: string): HeartbeatMetadata | undefined {
  if (json.length > MAX_HEARTBEAT_BYTES * 4) return undefined
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { nodeId, addresses } = value as { nodeId?: unknown; addresses?: unknown }
  if (typeof nodeId !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(nodeId)) return undefined
  if (!Array.isArray(addresses) || addresses.length > MAX_ADDRESSES) return undefined
  const valid = addresses.filter(
    (a): a is string => typeof a === 'string' && a.length > 0 && a.length <= MAX_ADDRESS_LENGTH,
  )
  return { nodeId: nodeId.toLowerCase(), addresses: valid }
}
