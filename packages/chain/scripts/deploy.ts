// Deploys the Runnel contracts to any JSON-RPC endpoint and prints their addresses.
//
//   npm run deploy -w @runnel/chain -- --rpc https://rpc.example.org --key 0x…   (or RUNNEL_DEPLOY_KEY=0x…)
import { parseArgs } from 'node:util'
import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { ChainError, deployContracts } from '../src/index.js'

const usage = 'usage: deploy --rpc <url> [--key <0x private key>]   (the key may also come from RUNNEL_DEPLOY_KEY)'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rpc: { type: 'string' }, key: { type: 'string' }, help: { type: 'boolean' } },
  })
  if (values.help === true) {
    console.log(usage)
    return
  }
  const rpc = values.rpc
  const key = values.key ?? process.env.RUNNEL_DEPLOY_KEY
  if (rpc === undefined || !/^https?:\/\//.test(rpc))
    throw new ChainError('INVALID_ARGUMENT', `--rpc must be an http(s) URL\n${usage}`)
  if (key === undefined || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new ChainError(
      'INVALID_ARGUMENT',
      `a 32-byte hex private key is required (--key or RUNNEL_DEPLOY_KEY)\n${usage}`,
    )
  }
  const transport = http(rpc)
  const publicClient = createPublicClient({ transport }) as PublicClient
  const chainId = await publicClient.getChainId()
  const account = privateKeyToAccount(key as Hex)
  const walletClient = createWalletClient({
    transport,
    account,
    chain: {
      id: chainId,
      name: `chain ${chainId}`,
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [rpc] } },
    },
  })
  const deployment = await deployContracts(publicClient, walletClient)
  console.log(
    JSON.stringify(
      {
        chainId,
        deployer: account.address,
        streamRegistry: deployment.streamRegistry,
        storageNodeRegistry: deployment.storageNodeRegistry,
        incentives: deployment.incentives,
        market: deployment.market,
        deployBlock: deployment.deployBlock.toString(),
      },
      null,
      2,
    ),
  )
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err))
  process.exitCode = 1
})
