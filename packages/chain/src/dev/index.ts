export {
  DEV_BLOCK_GAS_LIMIT,
  DEV_HARDFORK,
  DEV_MNEMONIC,
  startEmbeddedChain,
  type EmbeddedChain,
  type EmbeddedChainOptions,
} from './embeddedChain.js'
