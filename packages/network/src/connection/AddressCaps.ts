import { hostOf, ipSubnetGroup, isPrivateAddress } from '../dht/subnet.js'
import { NetworkError } from '../errors.js'

/**
 * Caps on incoming connections by where they come from. One host, or one
 * /24, holding many of a node's connections is the cheap way to surround it
 * with identities of one operator (Sybil), or to use up its connection slots.
 */
export interface InboundCaps {
  /** Open incoming connections (handshaking or ready) from one IP address. Default 16. */
  readonly maxPerIp?: number
  /** Open incoming connections from one /24 (IPv4) or /48 (IPv6). Default 32. */
  readonly maxPerSubnet?: number
  /**
   * Loopback and private addresses (10/8, 172.16/12, 192.168/16, 100.64/10,
   * link-local, fc00::/7) escape both caps. Default true: such connections
   * come from the operator's own network, where one address may front many
   * honest nodes (a LAN, a container network, a reverse proxy, one machine
   * running a whole test network), and no one on the public internet can
   * connect from one. Turn it off to cap a node reached only through such a
   * network too (a test does, on 127.0.0.1).
   */
  readonly exemptPrivateAddresses?: boolean
}

export type ResolvedInboundCaps = Required<InboundCaps>

export const DEFAULT_INBOUND_CAPS: ResolvedInboundCaps = {
  maxPerIp: 16,
  maxPerSubnet: 32,
  exemptPrivateAddresses: true,
}

/**
 * Fills in the defaults and checks the caps.
 *
 * @throws {@link NetworkError} `INVALID_OPTIONS` naming the bad cap
 */
export function resolveInboundCaps(caps: InboundCaps = {}): ResolvedInboundCaps {
  const resolved: ResolvedInboundCaps = {
    maxPerIp: caps.maxPerIp ?? DEFAULT_INBOUND_CAPS.maxPerIp,
    maxPerSubnet: caps.maxPerSubnet ?? DEFAULT_INBOUND_CAPS.maxPerSubnet,
    exemptPrivateAddresses: caps.exemptPrivateAddresses ?? DEFAULT_INBOUND_CAPS.exemptPrivateAddresses,
  }
  for (const name of ['maxPerIp', 'maxPerSubnet'] as const) {
    const value = resolved[name]
    if (!(value === Infinity || (Number.isInteger(value) && value >= 1))) {
      throw new NetworkError('INVALID_OPTIONS', `inbound ${name} must be a positive integer, got ${String(value)}`)
    }
  }
  return resolved
}

/** Where an admitted connection was counted, to release it by. */
export interface AdmissionTicket {
  readonly host: string
  readonly group: string
}

/**
 * Counts open incoming connections per IP and per subnet, and refuses one
 * past a cap: an admission check before the handshake, so a refused
 * connection costs no signature work. Addresses without an IP (WebRTC
 * connections' `webrtc:<id>`, host names, plain simulator addresses) and, by
 * default, private ones are never counted.
 *
 * Bounds: one entry per IP and per subnet with a connection open.
 */
export class InboundAddressCaps {
  private readonly byHost = new Map<string, number>()
  private readonly byGroup = new Map<string, number>()
  /** Connections refused, since start. */
  refused = 0

  constructor(private readonly caps: ResolvedInboundCaps) {}

  /**
   * Counts a connection from `remoteAddress` and returns its ticket, or a
   * refusal reason when a cap is reached (nothing is counted then).
   */
  admit(remoteAddress: string): { ticket: AdmissionTicket | undefined } | { refusal: string } {
    // Only IP addresses are counted: not a WebRTC connection's `webrtc:<id>`, nor a plain simulator address.
    const group = ipSubnetGroup(remoteAddress, false)
    if (group === undefined || (this.caps.exemptPrivateAddresses && isPrivateAddress(remoteAddress))) {
      return { ticket: undefined }
    }
    const host = hostOf(remoteAddress)
    const perHost = this.byHost.get(host) ?? 0
    if (perHost >= this.caps.maxPerIp) {
      this.refused++
      return { refusal: `too many connections from ${host} (at most ${this.caps.maxPerIp} per address)` }
    }
    const perGroup = this.byGroup.get(group) ?? 0
    if (perGroup >= this.caps.maxPerSubnet) {
      this.refused++
      return { refusal: `too many connections from ${group} (at most ${this.caps.maxPerSubnet} per subnet)` }
    }
    this.byHost.set(host, perHost + 1)
    this.byGroup.set(group, perGroup + 1)
    return { ticket: { host, group } }
  }

  /** The connection a ticket counted closed. */
  release(ticket: AdmissionTicket): void {
    decrement(this.byHost, ticket.host)
    decrement(this.byGroup, ticket.group)
  }

  /** Open incoming connections counted from `host`, for tests and diagnostics. */
  countFrom(host: string): number {
    return this.byHost.get(host) ?? 0
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1
  if (count > 0) counts.set(key, count)
  else counts.delete(key)
}
