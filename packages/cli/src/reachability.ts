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

function probe(url: string): Promise<void> {
  const { hostname, port, protocol } = new URL(url)
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: port === '' ? (protocol === 'wss:' ? 443 : 80) : Number(port) })
    const fail = (reason: string, cause?: unknown): void => {
      socket.destroy()
      reject(new NetworkError('CONNECTION_FAILED', `can't reach tracker ${url}: ${reason}`, { cause }))
    }
    socket.setTimeout(PROBE_TIMEOUT_MS, () => fail(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`))
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message, err))
    socket.once('connect', () => {
      socket.destroy()
      resolve()
    })
  })
}
