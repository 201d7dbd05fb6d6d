/**
 * `@runnel/dev-chain`: the embedded development chain (Node.js only), with
 * Runnel's contracts deployed. It carries Hardhat's EDR, so only the daemon,
 * the CLI and tests depend on it; apps and browsers install `@runnel/chain`.
 *
 * @example
 * ```ts
 * import { startDevChain } from '@runnel/dev-chain'
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
export { DEV_TOKEN_BALANCE, startDevChain, type DevChain } from './devChain.js'
// Re-exported for callers that want the addresses next to the chain; it lives in @runnel/chain (browser-safe).
export { DEV_CONTRACT_ADDRESSES, DEV_INCENTIVE_ADDRESSES } from '@runnel/chain'
