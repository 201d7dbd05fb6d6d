import type { AddressInfo, Server } from 'node:net'
import { NodeError } from '../errors.js'

/**
 * Starts a server listening and resolves with the port it got. A port in use
 * or a bad host becomes a `START_FAILED` error that names the API and port.
 */
export function listen(server: Server, host: string, port: number, api: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const reason =
        err.code === 'EADDRINUSE'
          ? `port ${port} is already in use (set plugins.${api}.port to another port)`
          : `can't listen on ${host}:${port}: ${err.message}`
      reject(new NodeError('START_FAILED', `${api} API: ${reason}`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** Closes a server, resolving once it has stopped (its connections must be closed by the caller). */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
  })
}

/** `host:port` as a URL host: IPv6 literals get brackets. */
export function urlHost(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}
