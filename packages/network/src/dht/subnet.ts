/**
 * The network group a connection's remote address belongs to, for the
 * per-bucket cap that makes filling a routing table from one place expensive:
 * the /24 of an IPv4 address, the /48 of an IPv6 address. `undefined` means
 * the address is exempt from the cap: plain simulator addresses (`sim://<n>`:
 * they have no network), loopback when `exemptLoopback` (one machine running
 * many nodes, as in tests and local networks). A simulator address with an
 * IP (`sim://<ip>/<n>`, see `Simulator.createTransport`) is grouped by that IP,
 * so simulations can place nodes in chosen subnets.
 *
 * Accepts what transports report: `1.2.3.4:5678`, `[2001:db8::1]:443`,
 * `::ffff:1.2.3.4`, `ws://host:port/path`. A host name that is not an IP
 * address is its own group: the cap then binds per name, which an attacker
 * with many names evades; only addresses taken from the socket are robust.
 */
export function subnetGroup(remoteAddress: string, exemptLoopback: boolean): string | undefined {
  const host = hostOf(remoteAddress)
  if (host === '') return undefined
  const ipv4 = parseIpv4(host.startsWith('::ffff:') ? host.slice(7) : host)
  if (ipv4 !== undefined) {
    if (exemptLoopback && ipv4[0] === 127) return undefined
    return `${ipv4[0]}.${ipv4[1]}.${ipv4[2]}.0/24`
  }
  if (host.includes(':')) {
    const groups = expandIpv6(host)
    if (groups === undefined) return `host:${host}`
    if (exemptLoopback && groups.every((group, index) => group === (index === 7 ? 1 : 0))) return undefined
    return `${groups
      .slice(0, 3)
      .map((group) => group.toString(16))
      .join(':')}::/48`
  }
  if (exemptLoopback && host === 'localhost') return undefined
  return `host:${host.toLowerCase()}`
}

/**
 * {@link subnetGroup} for addresses whose host is an IP address, undefined
 * for any other (a host name, `webrtc:<id>`, a plain simulator address):
 * what the caps against Sybils count by. A name says nothing of where a node
 * is (many nodes behind one name, or one attacker behind many), and every
 * WebRTC connection would otherwise fall in one group.
 */
export function ipSubnetGroup(address: string, exemptLoopback: boolean): string | undefined {
  const host = hostOf(address)
  const bare = host.startsWith('::ffff:') ? host.slice(7) : host
  if (parseIpv4(bare) === undefined && !(host.includes(':') && expandIpv6(host) !== undefined)) return undefined
  return subnetGroup(address, exemptLoopback)
}

/**
 * The IP host of an address as {@link subnetGroup} reads it (`''` for a
 * plain simulator address, which has none): what a per-address limit counts by.
 */
export function hostOf(address: string): string {
  if (address.startsWith('sim://')) {
    const slash = address.indexOf('/', 6)
    return slash < 0 ? '' : address.slice(6, slash)
  }
  let rest = address
  const scheme = rest.indexOf('://')
  if (scheme >= 0) rest = rest.slice(scheme + 3)
  const slash = rest.indexOf('/')
  if (slash >= 0) rest = rest.slice(0, slash)
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']')
    return end < 0 ? rest.slice(1) : rest.slice(1, end)
  }
  const colons = rest.split(':').length - 1
  // One colon: host:port. More: a bare IPv6 address (no port).
  if (colons === 1) return rest.slice(0, rest.indexOf(':'))
  return rest
}

function parseIpv4(host: string): number[] | undefined {
  const parts = host.split('.')
  if (parts.length !== 4) return undefined
  const numbers = parts.map((part) => (/^\d{1,3}$/.test(part) ? Number(part) : NaN))
  return numbers.every((n) => n >= 0 && n <= 255) ? numbers : undefined
}

function expandIpv6(host: string): number[] | undefined {
  const zone = host.indexOf('%')
  const address = zone >= 0 ? host.slice(0, zone) : host
  const halves = address.split('::')
  if (halves.length > 2) return undefined
  const parse = (half: string): number[] | undefined => {
    if (half === '') return []
    const groups = half.split(':').map((group) => (/^[0-9a-fA-F]{1,4}$/.test(group) ? parseInt(group, 16) : NaN))
    return groups.every((group) => !Number.isNaN(group)) ? groups : undefined
  }
  const head = parse(halves[0]!)
  const tail = halves.length === 2 ? parse(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  if (halves.length === 1) return head.length === 8 ? head : undefined
  const missing = 8 - head.length - tail.length
  if (missing < 1) return undefined
  return [...head, ...new Array<number>(missing).fill(0), ...tail]
}

/**
 * Whether an address's host is a private or local one: RFC 1918 and
 * carrier-grade NAT (100.64.0.0/10) IPv4, link-local, unique-local IPv6
 * (fc00::/7) and loopback. Connections from such addresses come from the
 * operator's own network (a LAN, a container network, a reverse proxy in
 * front of the node), where one address or one /24 can stand for many
 * honest nodes, and no one on the public internet can appear from one.
 */
export function isPrivateAddress(address: string): boolean {
  const host = hostOf(address)
  if (host === 'localhost') return true
  const ipv4 = parseIpv4(host.startsWith('::ffff:') ? host.slice(7) : host)
  if (ipv4 !== undefined) {
    const [a, b] = ipv4 as [number, number]
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b < 128)
    )
  }
  if (!host.includes(':')) return false
  const groups = expandIpv6(host)
  if (groups === undefined) return false
  const first = groups[0]!
  const loopback = groups.every((group, index) => group === (index === 7 ? 1 : 0))
  return loopback || (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80
}
