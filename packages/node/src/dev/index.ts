/**
 * `@runnel/node/dev`: a complete local network in one call (embedded chain,
 * tracker or DHT entry point, API node, relay nodes), as `runnel dev` and `npm start` run it.
 * Kept apart from the main entry so a production daemon never loads the
 * embedded chain.
 *
 * @packageDocumentation
 */
export {
  MAX_DEV_OPERATORS,
  startDevNetwork,
  type DevNetwork,
  type DevNetworkOptions,
  type DevOperator,
} from './DevNetwork.js'
export { startEntryPoint, type EntryPoint, type EntryPointOptions } from './entryPoint.js'
