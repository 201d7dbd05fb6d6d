import {
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { RunnelMarket, RunnelRegistry, deployContracts, runnelTokenAbi, type Deployment } from '@runnel/chain'
import { startEmbeddedChain, type EmbeddedChain, type EmbeddedChainOptions } from './embeddedChain.js'

/** An embedded chain with Runnel's contracts deployed, and clients for it. */
export interface DevChain {
  readonly chain: EmbeddedChain
  readonly deployment: Deployment
  readonly viemChain: Chain
  readonly publicClient: PublicClient
  /** A wallet client acting as dev account `index` (0 is the deployer). */
  walletFor(index: number): WalletClient<Transport, Chain, Account>
  /** A registry acting as dev account `index`. */
  registryFor(index: number): RunnelRegistry
  /** Marketplace and Data Union bindings acting as dev account `index`. */
  marketFor(index: number): RunnelMarket
  /**
   * Moves the chain's clock `seconds` ahead and mines a block at the new time, so expirations (subscriptions,
   * permissions) take effect without waiting.
   */
  increaseTime(seconds: number): Promise<void>
  stop(): Promise<void>
}

/** Tokens every dev account starts with (1,000,000 RNL). */
export const DEV_TOKEN_BALANCE = 10n ** 24n

/** Mints {@link DEV_TOKEN_BALANCE} to every dev account, so each can sponsor, stake and delegate at once. */
async function fundDevAccounts(
  publicClient: PublicClient,
  deployer: WalletClient<Transport, Chain, Account>,
  deployment: Deployment,
  keys: readonly `0x${string}`[],
): Promise<void> {
  const nonce = await publicClient.getTransactionCount({ address: deployer.account.address })
  const hashes: `0x${string}`[] = []
  for (const [i, key] of keys.entries()) {
    hashes.push(
      await deployer.writeContract({
        address: deployment.incentives.token,
        abi: runnelTokenAbi,
        functionName: 'mint',
        args: [privateKeyToAccount(key).address, DEV_TOKEN_BALANCE],
        nonce: nonce + i,
      }),
    )
  }
  await Promise.all(hashes.map((hash) => publicClient.waitForTransactionReceipt({ hash })))
}

/**
 * Starts an embedded chain (in-process, and on 127.0.0.1 when `port` is given)
 * and deploys the contracts to {@link DEV_CONTRACT_ADDRESSES}.
 *
 * @example
 * ```ts
 * const dev = await startDevChain({ port: 8545 })
 * console.log(dev.chain.rpcUrl, dev.deployment.streamRegistry)
 * const registry = dev.registryFor(1)
 * await registry.createStream('/sensors')
 * ```
 */
export async function startDevChain(options: EmbeddedChainOptions = {}): Promise<DevChain> {
  const chain = await startEmbeddedChain(options)
  const viemChain = defineChain({
    id: chain.chainId,
    name: 'Runnel dev chain',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: chain.rpcUrl === undefined ? [] : [chain.rpcUrl] } },
  })
  // In-process, a failed request is an answer, not a flaky network: viem's retries would only delay every revert
  // that reaches it from a nested call (an UnknownRpcError, retried three times at about a second each).
  const transport = custom(chain.provider, { retryCount: 0 })
  // Polling fast suits a local chain whose blocks are mined on demand.
  const publicClient = createPublicClient({ chain: viemChain, transport, pollingInterval: 50 }) as PublicClient
  const walletFor = (index: number): WalletClient<Transport, Chain, Account> => {
    const key = chain.accountKeys[index]
    if (key === undefined)
      throw new RangeError(`dev account ${index} doesn't exist (${chain.accountKeys.length} accounts)`)
    return createWalletClient({ chain: viemChain, transport, account: privateKeyToAccount(key) })
  }
  let deployment: Deployment
  try {
    deployment = await deployContracts(publicClient, walletFor(0))
    await fundDevAccounts(publicClient, walletFor(0), deployment, chain.accountKeys)
  } catch (err) {
    await chain.stop()
    throw err
  }
  return {
    chain,
    deployment,
    viemChain,
    publicClient,
    walletFor,
    registryFor: (index) =>
      new RunnelRegistry(
        { publicClient, walletClient: walletFor(index), addresses: deployment },
        { fromBlock: deployment.deployBlock },
      ),
    marketFor: (index) =>
      new RunnelMarket({
        publicClient,
        walletClient: walletFor(index),
        addresses: deployment.market,
        registry: deployment.streamRegistry,
        token: deployment.incentives.token,
      }),
    increaseTime: async (seconds) => {
      await chain.provider.request({ method: 'evm_increaseTime', params: [seconds] })
      await chain.provider.request({ method: 'evm_mine', params: [] })
    },
    stop: () => chain.stop(),
  }
}
