/**
 * `@runnel/chain/dev`: the embedded development chain (Node.js only).
 *
 * @example
 * ```ts
 * import { startDevChain } from '@runnel/chain/dev'
 * const dev = await startDevChain({ port: 8545 }) // JSON-RPC on http://127.0.0.1:8545 and ws://…
 * ```
 * @packageDocumentation
 */
export {
  DEV_BLOCK_GAS_LIMIT,
  DEV_HARDFORK,
  DEV_MNEMONIC,
  startEmbeddedChain,
  type EmbeddedChain,
  type EmbeddedChainOptions,
} from './embeddedChain.js'
export { DEV_CONTRACT_ADDRESSES, startDevChain, type DevChain } from './devChain.js'
