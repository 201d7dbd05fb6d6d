import type { ApiName } from '../metrics.js'

export type PluginName = ApiName | 'storage'

/** One plugin of the node (an API, or storage), with an explicit lifecycle. */
export interface ApiPlugin {
  readonly name: PluginName
  /** Starts serving; resolves with the URL clients connect to. Rejects (port taken, …) with a `NodeError`. */
  start(): Promise<string>
  /** Stops serving and closes every connection. */
  stop(): Promise<void>
}
