/**
 * `@runnel/explorer`: the Network Explorer's server. It follows a network from a client on it and serves the web app
 * (built into `dist/web`) with the `/api` it reads. `runnel dev` starts one; `runnel explorer` starts one for any
 * network.
 */
export { DEFAULT_EXPLORER_PORT, DEFAULT_WEB_ROOT, ExplorerServer, type ExplorerOptions } from './ExplorerServer.js'
export type { DevAccount } from './devBuyers.js'
export { METRICS_PATH, type DirectoryOptions } from './Directory.js'
export { parseReport } from './reports.js'
export type * from './api.js'
