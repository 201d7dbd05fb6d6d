import { connect } from 'node:net'
import { NetworkError, trackerFor } from '@runnel/network'

/** How long a tracker gets to accept a TCP connection. */
const PROBE_TIMEOUT_MS = 5_000

/**
 * Checks that the trackers serving these stream parts accept connections.
 * The network layer retries trackers quietly in the background, which suits
 * a daemon; a one-shot command would instead publish to nobody, or wait
 * forever, and exit as if all were well.
 *
 * @throws NetworkError `CONNECTION_FAILED` naming the tracker
 */
export async function checkTrackersReachable(
  streamPartIds: readonly string[],
  trackers: readonly string[],
): Promise<void> {
  const serving = new Set(streamPartIds.map((streamPartId) => trackerFor(streamPartId, trackers)))
  await Promise.all([...serving].map((url) => probe(url)))
}

/**
 * Checks that at least one DHT entry point accepts connections: a node that reaches none is alone in a DHT of its own.
 *
 * @throws NetworkError `CONNECTION_FAILED` naming every entry point and why it failed
 */
export async function checkEntryPointsReachable(entryPoints: readonly string[]): Promise<void> {
  const results = await Promise.allSettled(entryPoints.map((url) => probe(url, 'DHT entry point')))
  if (results.some((result) => result.status === 'fulfilled')) return
  const reasons = results.map((result) => (result as PromiseRejectedResult).reason as NetworkError)
  throw new NetworkError('CONNECTION_FAILED', reasons.map((reason) => reason.shortMessage).join('; '), {
    cause: reasons[0],
  })
}

/** The check the discovery mode needs: the trackers serving these stream parts, or one entry point. */
export function checkDiscoveryReachable(
  streamPartIds: readonly string[],
  network: { discovery: 'tracker'; trackers: readonly string[] } | { discovery: 'dht'; entryPoints: readonly string[] },
): Promise<void> {
  return network.discovery === 'dht'
    ? checkEntryPointsReachable(network.entryPoints)
    : checkTrackersReachable(streamPartIds, network.trackers)
}

function probe(url: string, what = 'tracker'): Promise<void> {
  const { hostname, port, protocol } = new URL(url)
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: port === '' ? (protocol === 'wss:' ? 443 : 80) : Number(port) })
    const fail = (reason: string, cause?: unknown): void => {
      socket.destroy()
      reject(new NetworkError('CONNECTION_FAILED', `can't reach ${what} ${url}: ${reason}`, { cause }))
    }
    socket.setTimeout(PROBE_TIMEOUT_MS, () => fail(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`))
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message, err))
    socket.once('connect', () => {
      socket.destroy()
      resolve()
    })
  })
}
