import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createPublicClient, http, type Address } from 'viem'
import { sponsorshipsAbi, streamRegistryAbi } from '../../src/index.js'
import { startEmbeddedChain, type EmbeddedChain } from '@runnel/dev-chain'

const run = promisify(execFile)
const packageRoot = fileURLToPath(new URL('../../', import.meta.url))

function deploy(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--conditions=runnel-source', '--import', 'tsx', 'scripts/deploy.ts', ...args], {
    cwd: packageRoot,
    timeout: 60_000,
  })
}

describe('deploy script', () => {
  let chain: EmbeddedChain

  before(async () => {
    chain = await startEmbeddedChain({ port: 0 })
  })

  after(() => chain.stop())

  it('deploys every contract over JSON-RPC and prints their addresses', async () => {
    const { stdout } = await deploy(['--rpc', chain.rpcUrl!, '--key', chain.accountKeys[5]!])
    const printed = JSON.parse(stdout) as {
      chainId: number
      streamRegistry: Address
      storageNodeRegistry: Address
      incentives: Record<'token' | 'sponsorships' | 'operatorFactory' | 'voteKick', Address>
    }
    assert.equal(printed.chainId, chain.chainId)
    const client = createPublicClient({ transport: http(chain.rpcUrl) })
    const { token, sponsorships, operatorFactory, voteKick } = printed.incentives
    for (const address of [
      printed.streamRegistry,
      printed.storageNodeRegistry,
      token,
      sponsorships,
      operatorFactory,
      voteKick,
    ]) {
      assert.notEqual(await client.getCode({ address }), undefined, `no code at ${address}`)
    }
    const exists = await client.readContract({
      address: printed.streamRegistry,
      abi: streamRegistryAbi,
      functionName: 'exists',
      args: ['0x0000000000000000000000000000000000000000/none'],
    })
    assert.equal(exists, false)
    // The incentive contracts were wired to each other through their constructors.
    const wiredToken = await client.readContract({ address: sponsorships, abi: sponsorshipsAbi, functionName: 'token' })
    assert.equal(wiredToken, token)
    const wiredKick = await client.readContract({
      address: sponsorships,
      abi: sponsorshipsAbi,
      functionName: 'voteKick',
    })
    assert.equal(wiredKick, voteKick)
  })

  it('explains what is missing instead of deploying', async () => {
    await assert.rejects(deploy(['--rpc', chain.rpcUrl!]), (err: { stderr?: string; code?: number }) => {
      assert.equal(err.code, 1)
      assert.match(err.stderr ?? '', /INVALID_ARGUMENT: a 32-byte hex private key is required/)
      return true
    })
    await assert.rejects(
      deploy(['--rpc', 'ftp://nowhere', '--key', chain.accountKeys[5]!]),
      /--rpc must be an http\(s\) URL/,
    )
  })
})
