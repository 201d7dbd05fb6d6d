import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ChainError, DEV_INCENTIVE_ADDRESSES, RunnelIncentives } from '@runnel/chain'
import { parseUnits } from 'viem'
import { LOCAL_DEFAULTS } from '../../src/index.js'
import { startTestNetwork, type TestNetwork } from '../helpers.js'

const rnl = (amount: string): bigint => parseUnits(amount, 18)

describe('client.incentives', () => {
  let network: TestNetwork

  before(async () => {
    network = await startTestNetwork()
  })

  after(() => network.stop())

  it('defaults to the dev chain’s incentive contracts, which the dev chain deploys', () => {
    assert.deepEqual(LOCAL_DEFAULTS.incentives, DEV_INCENTIVE_ADDRESSES)
    assert.deepEqual(network.dev.deployment.incentives, DEV_INCENTIVE_ADDRESSES)
  })

  it('sponsors a stream, runs an operator and earns, as the client’s own key, over the client’s chain', async () => {
    const sponsor = network.client(1)
    const owner = network.client(2)
    assert.ok(sponsor.incentives instanceof RunnelIncentives)
    assert.equal(sponsor.incentives, sponsor.incentives, 'built once')
    assert.equal(sponsor.incentives.account.toLowerCase(), sponsor.address.toLowerCase())

    const stream = await sponsor.createStream('/incentives/client')
    const sponsorship = await sponsor.incentives.createSponsorship(
      { streamId: stream.id, ratePerSecond: rnl('2') },
      rnl('1000'),
    )
    assert.equal(sponsorship.streamId, stream.id)
    assert.equal(sponsorship.unallocated, rnl('1000'))

    const operator = await owner.incentives.createOperator({ cutBps: 500 })
    assert.equal(await owner.incentives.operatorOf(), operator)
    await owner.incentives.delegate(operator, rnl('2000'))
    await owner.incentives.stake(sponsorship.id, rnl('1500'))
    await network.dev.chain.provider.request({ method: 'evm_increaseTime', params: [60] })
    await network.dev.chain.provider.request({ method: 'evm_mine', params: [] })

    const info = await sponsor.incentives.getOperator(operator)
    assert.equal(info.owner.toLowerCase(), owner.address.toLowerCase())
    assert.equal(info.stakes.length, 1)
    assert.equal(info.stakes[0]!.amount, rnl('1500'))
    assert.ok(info.stakes[0]!.earnings >= rnl('120'), `earned ${info.stakes[0]!.earnings} wei in ≥ 60 s at 2 RNL/s`)
  })

  it('refuses a stake below the minimum with a typed ChainError', async () => {
    const owner = network.client(3)
    await owner.incentives.delegate(await owner.incentives.createOperator(), rnl('100'))
    await assert.rejects(owner.incentives.stake(1, rnl('1')), (err: unknown) => {
      assert.ok(err instanceof ChainError)
      assert.equal(err.code, 'STAKE_BELOW_MINIMUM')
      assert.match(err.message, /below the minimum of 1000 RNL/)
      return true
    })
  })
})
