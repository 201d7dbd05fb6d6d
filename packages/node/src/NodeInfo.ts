import type { PluginName } from './plugins/ApiPlugin.js'

/**
 * What `/info` and `runnel dev` report. Apart from `RunnelNode`, so that the plugins that serve it (the HTTP API's
 * `/info` and OpenAPI document) don't import the node that starts them.
 */
export interface NodeInfo {
  readonly version: string
  readonly address: string
  readonly apiKeysRequired: boolean
  /** URL per started API; `storage` is the history API's URL as registered on chain. */
  readonly endpoints: Partial<Record<PluginName, string>>
  /** How the node finds its peers: through trackers, or through the DHT. */
  readonly discovery: 'tracker' | 'dht'
  /** The trackers it uses (tracker mode; empty in dht mode). */
  readonly trackers: readonly string[]
  /** The DHT entry points it joined through (dht mode; empty in tracker mode). */
  readonly entryPoints: readonly string[]
  readonly rpcUrl: string
}
