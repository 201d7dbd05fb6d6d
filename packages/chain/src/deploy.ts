import {
  getAddress,
  getContractAddress,
  parseUnits,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { ChainError } from './errors.js'
import {
  dataUnionAbi,
  dataUnionBytecode,
  dataUnionFactoryAbi,
  dataUnionFactoryBytecode,
  marketplaceAbi,
  marketplaceBytecode,
  operatorBytecode,
  operatorAbi,
  operatorFactoryAbi,
  operatorFactoryBytecode,
  runnelTokenAbi,
  runnelTokenBytecode,
  sponsorshipsAbi,
  sponsorshipsBytecode,
  storageNodeRegistryAbi,
  storageNodeRegistryBytecode,
  streamRegistryAbi,
  streamRegistryBytecode,
  voteKickAbi,
  voteKickBytecode,
} from './generated/contracts.js'
import type { ContractAddresses, IncentiveAddresses, MarketAddresses } from './registry/types.js'

/** The deployment and the block it landed in (read events from there). */
export interface Deployment extends ContractAddresses {
  readonly deployBlock: bigint
  readonly incentives: IncentiveAddresses
  readonly market: MarketAddresses
}

/**
 * The incentive contracts' fixed parameters, set at deployment. Token amounts
 * are in wei (18 decimals). docs/tokenomics.md explains each.
 */
export interface IncentiveParams {
  /** The least an operator may stake on a sponsorship. */
  readonly minimumStake: bigint
  /** Locked from a flagger's stake while its flag is open; slashed for a false flag. */
  readonly flagStake: bigint
  /** Share of a kicked operator's stake slashed, in basis points. */
  readonly slashBps: number
  /** Reviewers picked per flag (fewer when fewer operators are staked). */
  readonly reviewerCount: number
  /** Seconds after which anyone may conclude a flag on the votes cast. */
  readonly votingPeriodSeconds: number
  /** Paid to each reviewer on the winning side of a flag. */
  readonly reviewerReward: bigint
  /** Paid to the flagger of an operator that is kicked. */
  readonly flaggerReward: bigint
  /** The owner's least share of its operator's shares while others delegate, in basis points. */
  readonly minSelfDelegationBps: number
  /** An undelegation waiting longer lets anyone unstake the operator to pay it. */
  readonly maxQueueSeconds: number
}

/** Defaults for {@link IncentiveParams}; the dev chain uses them. */
export const DEFAULT_INCENTIVE_PARAMS: IncentiveParams = {
  minimumStake: parseUnits('1000', 18),
  flagStake: parseUnits('50', 18),
  slashBps: 1000,
  reviewerCount: 5,
  votingPeriodSeconds: 3600,
  reviewerReward: parseUnits('5', 18),
  flaggerReward: parseUnits('20', 18),
  minSelfDelegationBps: 500,
  maxQueueSeconds: 30 * 24 * 3600,
}

type Wallet = WalletClient<Transport, Chain | undefined, Account>

/**
 * Deploys every contract from the wallet's account, in one fixed order: the
 * stream registry, the storage-node registry, then the token, sponsorships,
 * operator implementation, operator factory and vote-kick, then the
 * marketplace, the Data Union implementation and the Data Union factory. The incentive
 * contracts point at each other through constructor arguments computed from
 * the deployer's nonces, so none of them has an owner who could rewire them.
 * On a fresh dev chain with the same deployer the addresses are always the
 * same ({@link DEV_CONTRACT_ADDRESSES}).
 *
 * @example
 * ```ts
 * const deployment = await deployContracts(publicClient, walletClient)
 * const registry = new RunnelRegistry({ publicClient, walletClient, addresses: deployment })
 * ```
 */
export async function deployContracts(
  publicClient: PublicClient,
  walletClient: Wallet,
  params: IncentiveParams = DEFAULT_INCENTIVE_PARAMS,
): Promise<Deployment> {
  try {
    const account = walletClient.account
    const nonce = await publicClient.getTransactionCount({ address: account.address })
    const at = (offset: number): Address => getContractAddress({ from: account.address, nonce: BigInt(nonce + offset) })
    const [
      streamRegistry,
      storageNodeRegistry,
      token,
      sponsorships,
      operatorImplementation,
      operatorFactory,
      voteKick,
      marketplace,
      dataUnionImplementation,
      dataUnionFactory,
    ] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(at) as [
      Address,
      Address,
      Address,
      Address,
      Address,
      Address,
      Address,
      Address,
      Address,
      Address,
    ]
    const deploy = (offset: number, abi: Abi, bytecode: Hex, args: readonly unknown[] = []): Promise<Hex> =>
      walletClient.deployContract({ abi, bytecode, args, nonce: nonce + offset, chain: walletClient.chain })
    const hashes = [
      await deploy(0, streamRegistryAbi, streamRegistryBytecode),
      await deploy(1, storageNodeRegistryAbi, storageNodeRegistryBytecode, [streamRegistry]),
      await deploy(2, runnelTokenAbi, runnelTokenBytecode, [account.address]),
      await deploy(3, sponsorshipsAbi, sponsorshipsBytecode, [
        token,
        streamRegistry,
        operatorFactory,
        voteKick,
        params.minimumStake,
      ]),
      await deploy(4, operatorAbi, operatorBytecode, [
        token,
        sponsorships,
        voteKick,
        operatorFactory,
        params.minSelfDelegationBps,
        BigInt(params.maxQueueSeconds),
      ]),
      await deploy(5, operatorFactoryAbi, operatorFactoryBytecode, [operatorImplementation]),
      await deploy(6, voteKickAbi, voteKickBytecode, [
        token,
        sponsorships,
        operatorFactory,
        {
          flagStake: params.flagStake,
          slashBps: params.slashBps,
          reviewerCount: params.reviewerCount,
          votingPeriod: BigInt(params.votingPeriodSeconds),
          reviewerReward: params.reviewerReward,
          flaggerReward: params.flaggerReward,
        },
      ]),
      await deploy(7, marketplaceAbi, marketplaceBytecode, [streamRegistry, dataUnionFactory]),
      await deploy(8, dataUnionAbi, dataUnionBytecode, [dataUnionFactory]),
      await deploy(9, dataUnionFactoryAbi, dataUnionFactoryBytecode, [dataUnionImplementation]),
    ]
    const receipts = await Promise.all(hashes.map((hash) => publicClient.waitForTransactionReceipt({ hash })))
    const failed = receipts.findIndex((receipt) => receipt.status !== 'success')
    if (failed !== -1)
      throw new ChainError('RPC_ERROR', `contract deployment ${failed + 1} of ${receipts.length} reverted`)
    return {
      streamRegistry: getAddress(streamRegistry),
      storageNodeRegistry: getAddress(storageNodeRegistry),
      deployBlock: receipts[0]!.blockNumber,
      incentives: { token, sponsorships, operatorFactory, voteKick },
      market: { marketplace, dataUnionFactory },
    }
  } catch (err) {
    if (err instanceof ChainError) throw err
    throw new ChainError('RPC_ERROR', `deployment failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
}
