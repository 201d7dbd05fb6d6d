import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { DEV_INCENTIVE_ADDRESSES, RunnelIncentives } from '@runnel/chain'
import { createPublicClient, http, parseUnits, type Address, type PublicClient } from 'viem'
import { describeResult, devArguments, startCli } from './helpers.js'

interface DevInfo {
  rpcUrl: string
  demoStreamId: string
  sponsorshipId: number
  operators: { address: Address; owner: Address; node: string }[]
}

describe('runnel dev --operators', () => {
  it('starts operators staked on a sponsorship of the demo stream; their nodes heartbeat and they earn', async () => {
    const home = await mkdtemp(join(tmpdir(), 'runnel-dev-operators-'))
    after(() => rm(home, { recursive: true, force: true }))
    const dev = startCli([...devArguments(), '--operators', '2', '--no-storage', '--relay-nodes', '0'], {
      RUNNEL_HOME: home,
    })
    after(() => dev.child.kill('SIGKILL'))
    const info = JSON.parse(await dev.waitForLine('stdout', /^\{/)) as DevInfo
    assert.equal(info.operators.length, 2)
    const publicClient = createPublicClient({ transport: http(info.rpcUrl) }) as PublicClient
    const incentives = new RunnelIncentives({
      publicClient,
      addresses: DEV_INCENTIVE_ADDRESSES,
    })
    const sponsorship = await incentives.getSponsorship(info.sponsorshipId)
    assert.equal(sponsorship.streamId, info.demoStreamId)
    assert.equal(sponsorship.operatorCount, 2)
    assert.equal(sponsorship.paying, true)

    // Earnings accrue by the chain's clock, which moves with blocks: mine one before each look.
    const mine = (): Promise<Response> =>
      fetch(info.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'evm_mine', params: [] }),
      })
    const worth = async (operator: Address): Promise<bigint> => {
      await mine()
      const { totalAssets, stakes } = await incentives.getOperator(operator)
      return totalAssets + stakes.reduce((sum, stake) => sum + stake.earnings, 0n)
    }
    for (const operator of info.operators) {
      const stake = await incentives.getStake(info.sponsorshipId, operator.address)
      assert.equal(stake.amount, parseUnits('5000', 18))
      const { nodes } = await incentives.getOperator(operator.address)
      assert.deepEqual(nodes, [operator.owner], 'the owner account is the operator’s node')
      const first = await worth(operator.address)
      const deadline = Date.now() + 30_000
      while ((await worth(operator.address)) <= first) {
        assert.ok(Date.now() < deadline, `${operator.address} earns`)
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
      // Its node sent a heartbeat: it serves the sponsorship.
      assert.ok((await incentives.lastHeartbeat(operator.address, operator.owner)) > 0)
    }

    dev.child.kill('SIGINT')
    const result = await dev.result
    assert.equal(result.code, 0, describeResult(result))
  })
})
