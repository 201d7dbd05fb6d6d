import assert from 'node:assert/strict'
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
import { ChainError, RunnelRegistry, deployContracts, type ChainErrorCode, type Deployment } from '../src/index.js'
import { startEmbeddedChain, type EmbeddedChain } from '../src/dev/index.js'

export interface TestChain {
  readonly chain: EmbeddedChain
  readonly publicClient: PublicClient
  readonly deployment: Deployment
  /** A registry acting as dev account `index` (0 deployed the contracts). */
  registryFor(index: number): RunnelRegistry
  walletFor(index: number): WalletClient<Transport, Chain | undefined, Account>
  stop(): Promise<void>
}

/** An in-process embedded chain with the contracts deployed. */
export async function startTestChain(): Promise<TestChain> {
  const chain = await startEmbeddedChain()
  const viemChain = defineChain({
    id: chain.chainId,
    name: 'runnel-dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [] } },
  })
  const transport = custom(chain.provider)
  const publicClient = createPublicClient({ chain: viemChain, transport, pollingInterval: 50 }) as PublicClient
  const walletFor = (index: number): WalletClient<Transport, Chain | undefined, Account> =>
    createWalletClient({ chain: viemChain, transport, account: privateKeyToAccount(chain.accountKeys[index]!) })
  const deployment = await deployContracts(publicClient, walletFor(0))
  return {
    chain,
    publicClient,
    deployment,
    walletFor,
    registryFor: (index) =>
      new RunnelRegistry(
        { publicClient, walletClient: walletFor(index), addresses: deployment },
        { fromBlock: deployment.deployBlock },
      ),
    stop: () => chain.stop(),
  }
}

/** Asserts that `promise` rejects with a ChainError of `code` whose message matches `pattern`. */
export async function assertChainError(
  promise: Promise<unknown>,
  code: ChainErrorCode,
  pattern?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ChainError, `expected ChainError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return true
  })
}
