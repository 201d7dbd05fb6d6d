import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { encodeFunctionData, toFunctionSelector } from 'viem'
import { streamRegistryAbi } from '@runnel/chain'
import { startDevChain, type DevChain } from '../../src/index.js'

interface RpcError {
  readonly code: number
  readonly message: string
  readonly data?: { readonly data?: string }
}

describe('reverts over JSON-RPC', () => {
  let dev: DevChain

  before(async () => {
    dev = await startDevChain({ port: 0 })
  })

  after(() => dev.stop())

  async function rpc(method: string, params: unknown[]): Promise<{ error?: RpcError }> {
    const response = await fetch(dev.chain.rpcUrl!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    })
    return (await response.json()) as { error?: RpcError }
  }

  // As geth and anvil answer: clients retry -32603 (internal error) as a server fault, but not a revert.
  it('answer with code 3 and the revert data, not as an internal error', async () => {
    const data = encodeFunctionData({ abi: streamRegistryAbi, functionName: 'getStreamMetadata', args: ['0x00/none'] })
    const { error } = await rpc('eth_call', [{ to: dev.deployment.streamRegistry, data }, 'latest'])
    assert.equal(error?.code, 3, JSON.stringify(error))
    assert.ok(error.data?.data?.startsWith(toFunctionSelector('StreamNotFound(string)')), JSON.stringify(error))
  })

  it('leave other errors as they were', async () => {
    const { error } = await rpc('eth_getBalance', ['not an address', 'latest'])
    assert.equal(error?.code, -32602, JSON.stringify(error))
  })
})
