import type { ApiName } from '../metrics.js'

/** One API of the node (WebSocket, HTTP, MQTT), with an explicit lifecycle. */
export interface ApiPlugin {
  readonly name: ApiName
  /** Starts serving; resolves with the URL clients connect to. Rejects (port taken, …) with a `NodeError`. */
  start(): Promise<string>
  /** Stops serving and closes every connection. */
  stop(): Promise<void>
}
