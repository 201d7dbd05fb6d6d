import { getContractAddress } from 'viem'

/** Hardhat's well-known first dev account, which deploys the contracts. */
const DEPLOYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266' as const

const devAddress = (nonce: bigint): `0x${string}` => getContractAddress({ from: DEPLOYER, nonce })

/**
 * Where the registry contracts are on every dev chain: they are the
 * deployer's first two contracts on a fresh chain, and a contract address
 * depends only on its deployer and nonce.
 */
export const DEV_CONTRACT_ADDRESSES = {
  streamRegistry: devAddress(0n),
  storageNodeRegistry: devAddress(1n),
} as const

/** Where the incentive contracts are on every dev chain (the deployer's next contracts, nonce 4 is the operator implementation). */
export const DEV_INCENTIVE_ADDRESSES = {
  token: devAddress(2n),
  sponsorships: devAddress(3n),
  operatorFactory: devAddress(5n),
  voteKick: devAddress(6n),
} as const

/** Where the marketplace and the Data Union factory are on every dev chain (nonce 8 is the Data Union implementation). */
export const DEV_MARKET_ADDRESSES = {
  marketplace: devAddress(7n),
  dataUnionFactory: devAddress(9n),
} as const
