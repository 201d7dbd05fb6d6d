import { ClientError } from '../errors.js'
import { LOCAL_DEFAULTS, type RunnelClientOptions } from '../options.js'

/** How a node finds the peers of a stream part: a tracker tells it, or it looks them up in the DHT. */
export type DiscoveryMode = 'tracker' | 'dht'

/** The discovery settings a client's network node runs with, defaults filled in and checked. */
export type ResolvedDiscovery =
  | { readonly discovery: 'tracker'; readonly trackers: readonly string[] }
  | { readonly discovery: 'dht'; readonly entryPoints: readonly string[] }

/**
 * Decides the discovery mode and its list from `network.discovery`, `network.trackers` and `network.entryPoints`.
 * Without `discovery`, a client that lists entry points and no trackers runs in dht mode, any other in tracker mode;
 * the list a mode needs defaults to the local network's (`LOCAL_DEFAULTS`).
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` naming the setting: an unknown mode, an empty list, a list entry that
 *   isn't a non-empty string
 * @example
 * ```ts
 * resolveDiscovery({ entryPoints: ['ws://10.0.0.1:30301'] }) // { discovery: 'dht', entryPoints: ['ws://10.0.0.1:30301'] }
 * ```
 */
export function resolveDiscovery(network: RunnelClientOptions['network'] = {}): ResolvedDiscovery {
  const { discovery, trackers, entryPoints } = network
  if (discovery !== undefined && discovery !== 'tracker' && discovery !== 'dht') {
    throw new ClientError(
      'INVALID_ARGUMENT',
      `network.discovery must be 'tracker' or 'dht', got ${JSON.stringify(discovery) ?? String(discovery)}`,
    )
  }
  // Both lists are checked whichever mode runs: a typo shows before the day the other mode is switched on.
  if (trackers !== undefined) checkAddressList(trackers, 'network.trackers')
  if (entryPoints !== undefined) checkAddressList(entryPoints, 'network.entryPoints')
  const mode = discovery ?? (entryPoints !== undefined && trackers === undefined ? 'dht' : 'tracker')
  return mode === 'dht'
    ? { discovery: 'dht', entryPoints: entryPoints ?? LOCAL_DEFAULTS.entryPoints }
    : { discovery: 'tracker', trackers: trackers ?? LOCAL_DEFAULTS.trackers }
}

function checkAddressList(list: unknown, setting: string): void {
  if (!Array.isArray(list)) {
    throw new ClientError('INVALID_ARGUMENT', `${setting} must be an array of addresses (ws:// or wss:// URLs)`)
  }
  if (list.length === 0) throw new ClientError('INVALID_ARGUMENT', `${setting} must list at least one address`)
  list.forEach((entry: unknown, index) => {
    if (typeof entry !== 'string' || entry.trim() === '') {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `${setting}[${index}] must be an address (a ws:// or wss:// URL), got ${JSON.stringify(entry) ?? String(entry)}`,
      )
    }
  })
}
