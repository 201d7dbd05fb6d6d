import {
  getAddress,
  getContractAddress,
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { ChainError } from './errors.js'
import {
  storageNodeRegistryAbi,
  storageNodeRegistryBytecode,
  streamRegistryAbi,
  streamRegistryBytecode,
} from './generated/contracts.js'
import type { ContractAddresses } from './registry/types.js'

/** The deployment and the block it landed in (read events from there). */
export interface Deployment extends ContractAddresses {
  readonly deployBlock: bigint
}

/**
 * Deploys both contracts from the wallet's account. On a fresh dev chain with
 * the same deployer, addresses are the same every time (they depend only on
 * the deployer and its nonce).
 *
 * @example
 * ```ts
 * const deployment = await deployContracts(publicClient, walletClient)
 * const registry = new RunnelRegistry({ publicClient, walletClient, addresses: deployment })
 * ```
 */
export async function deployContracts(
  publicClient: PublicClient,
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
): Promise<Deployment> {
  try {
    const account = walletClient.account
    const nonce = await publicClient.getTransactionCount({ address: account.address })
    const streamRegistry = getContractAddress({ from: account.address, nonce: BigInt(nonce) })
    const streamHash = await walletClient.deployContract({
      abi: streamRegistryAbi,
      bytecode: streamRegistryBytecode,
      nonce,
      chain: walletClient.chain,
    })
    const storageHash = await walletClient.deployContract({
      abi: storageNodeRegistryAbi,
      bytecode: storageNodeRegistryBytecode,
      args: [streamRegistry],
      nonce: nonce + 1,
      chain: walletClient.chain,
    })
    const [streamReceipt, storageReceipt] = await Promise.all([
      publicClient.waitForTransactionReceipt({ hash: streamHash }),
      publicClient.waitForTransactionReceipt({ hash: storageHash }),
    ])
    if (streamReceipt.status !== 'success' || storageReceipt.status !== 'success') {
      throw new ChainError('RPC_ERROR', 'a contract deployment reverted')
    }
    return {
      streamRegistry: getAddress(streamReceipt.contractAddress!),
      storageNodeRegistry: getAddress(storageReceipt.contractAddress!),
      deployBlock: streamReceipt.blockNumber,
    }
  } catch (err) {
    if (err instanceof ChainError) throw err
    throw new ChainError('RPC_ERROR', `deployment failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    })
  }
}
