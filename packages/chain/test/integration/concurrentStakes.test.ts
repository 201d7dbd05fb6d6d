import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { parseUnits, type Address } from 'viem'
import type { RunnelIncentives } from '../../src/index.js'
import { assertChainError, incentivesFor, startTestChain, type TestChain } from '../fixtures.js'

const rnl = (amount: string): bigint => parseUnits(amount, 18)
const replacer = (_key: string, value: unknown): unknown =>
  typeof value === 'bigint' ? value.toString() : value instanceof Error ? `${value.name}: ${value.message}` : value

/**
 * Writes from different accounts estimated against the same block, then mined one after the other: each must land
 * though the ones before change what it costs.
 */
describe('concurrent writes from different accounts', () => {
  let dev: TestChain
  const as = (index: number): RunnelIncentives => incentivesFor(dev, index)

  before(async () => {
    dev = await startTestChain()
  })
  after(() => dev.stop())

  it('lands five stakes sent at once on one sponsorship, the first of which makes it pay', async () => {
    const { id: streamId } = await dev.registryFor(1).createStream('/concurrent')
    const sponsorship = await as(1).createSponsorship({ streamId, ratePerSecond: rnl('1') }, rnl('10000'))
    const owners = [2, 3, 4, 5, 6]
    const operators: Address[] = []
    for (const owner of owners) {
      const operator = await as(owner).createOperator()
      await as(owner).delegate(operator, rnl('3000'))
      operators.push(operator)
    }
    // Without a gas margin, three of these five ran out of gas in an inner call and reverted without a reason.
    await Promise.all(owners.map((owner) => as(owner).stake(sponsorship.id, rnl('2000'))))
    const after = await as(1).getSponsorship(sponsorship.id)
    assert.equal(after.operatorCount, 5)
    assert.equal(after.totalStake, rnl('10000'))
  })

  it('says why a write that passed its simulation reverted when mined: the one that came first took the last place', async () => {
    const { id: streamId } = await dev.registryFor(1).createStream('/last-place')
    const sponsorship = await as(1).createSponsorship({ streamId, ratePerSecond: rnl('1'), maxOperators: 1 })
    for (const owner of [7, 8]) await as(owner).delegate(await as(owner).createOperator(), rnl('2000'))
    const provider = dev.chain.provider
    // Both simulate against the sponsorship with its one place free, and both are mined in the same block.
    await provider.request({ method: 'evm_setAutomine', params: [false] })
    try {
      const stakes = [7, 8].map((owner) => as(owner).stake(sponsorship.id, rnl('1000')))
      // Settled from the start: a stake that fails before both are pending fails this test with its own error,
      // not as an unhandled rejection while the loop below waits.
      let settledEarly = false
      const settled = Promise.allSettled(stakes).finally(() => (settledEarly = true))
      for (;;) {
        const pending = (await provider.request({ method: 'eth_getBlockByNumber', params: ['pending', false] })) as {
          transactions: unknown[]
        }
        if (pending.transactions.length === 2) break
        if (settledEarly)
          assert.fail(`a stake settled before both were pending: ${JSON.stringify(await settled, replacer)}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await provider.request({ method: 'evm_mine', params: [] })
      const outcomes = await settled
      assert.deepEqual(outcomes.map((outcome) => outcome.status).sort(), ['fulfilled', 'rejected'])
      // The one that came second: its revert, decoded by simulating it again.
      await assertChainError(Promise.all(stakes), 'SPONSORSHIP_FULL', /maximum of 1 operators/)
    } finally {
      await provider.request({ method: 'evm_setAutomine', params: [true] })
    }
  })
})
