import { getContractAddress } from 'viem'

/** Hardhat's well-known first dev account, which deploys the contracts. */
const DEPLOYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266' as const

/**
 * Where the contracts are on every dev chain: they are the deployer's first
 * two contracts on a fresh chain, and a contract address depends only on its
 * deployer and nonce.
 */
export const DEV_CONTRACT_ADDRESSES = {
  streamRegistry: getContractAddress({ from: DEPLOYER, nonce: 0n }),
  storageNodeRegistry: getContractAddress({ from: DEPLOYER, nonce: 1n }),
} as const
