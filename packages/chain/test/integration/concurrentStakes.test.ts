import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createWalletClient, custom, parseUnits, type Address } from 'viem'
import { RunnelIncentives } from '../../src/index.js'
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
    dev = await startTestChain({ accounts: 11 })
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
    // Both must be estimated before either is sent: an estimate runs on the pending state, and one made after the
    // other stake is pending is refused before sending (the next test). On a loaded machine either order happens,
    // so the sends wait for each other at the transport, on the real chain.
    let waiting: (() => void)[] = []
    const gated = (index: number): RunnelIncentives => {
      const wallet = dev.walletFor(index)
      const transport = custom(
        {
          async request(args: { method: string; params?: unknown }) {
            if (args.method === 'eth_sendRawTransaction') {
              await new Promise<void>((resolve) => {
                waiting.push(resolve)
                if (waiting.length === 2) for (const release of waiting) release()
              })
            }
            return provider.request(args as never)
          },
        },
        { retryCount: 0 },
      )
      const walletClient = createWalletClient({ chain: wallet.chain, account: wallet.account, transport })
      return new RunnelIncentives({
        publicClient: dev.publicClient,
        walletClient,
        addresses: dev.deployment.incentives,
      })
    }
    // Both are mined in the same block.
    await provider.request({ method: 'evm_setAutomine', params: [false] })
    try {
      const stakes = [7, 8].map((owner) => gated(owner).stake(sponsorship.id, rnl('1000')))
      // Settled from the start: a stake that fails before both are pending fails this test with its own error,
      // at once rather than when the other one's receipt times out.
      let failedEarly: unknown
      for (const stake of stakes) stake.catch((err: unknown) => (failedEarly ??= err))
      const settled = Promise.allSettled(stakes)
      for (;;) {
        const pending = (await provider.request({ method: 'eth_getBlockByNumber', params: ['pending', false] })) as {
          transactions: unknown[]
        }
        if (pending.transactions.length === 2) break
        if (failedEarly !== undefined)
          assert.fail(`a stake failed before both were pending: ${JSON.stringify(failedEarly, replacer)}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await provider.request({ method: 'evm_mine', params: [] })
      const outcomes = await settled
      assert.deepEqual(outcomes.map((outcome) => outcome.status).sort(), ['fulfilled', 'rejected'])
      // The one that came second: its revert, decoded by simulating it again.
      await assertChainError(Promise.all(stakes), 'SPONSORSHIP_FULL', /maximum of 1 operators/)
    } finally {
      waiting = []
      await provider.request({ method: 'evm_setAutomine', params: [true] })
    }
  })

  it('refuses before sending a write that the pending state makes revert, with the decoded reason', async () => {
    const { id: streamId } = await dev.registryFor(1).createStream('/pending-last-place')
    const sponsorship = await as(1).createSponsorship({ streamId, ratePerSecond: rnl('1'), maxOperators: 1 })
    for (const owner of [9, 10]) await as(owner).delegate(await as(owner).createOperator(), rnl('2000'))
    const provider = dev.chain.provider
    await provider.request({ method: 'evm_setAutomine', params: [false] })
    try {
      const first = as(9).stake(sponsorship.id, rnl('1000'))
      let firstFailed: unknown
      first.catch((err: unknown) => (firstFailed ??= err))
      for (;;) {
        const pending = (await provider.request({ method: 'eth_getBlockByNumber', params: ['pending', false] })) as {
          transactions: unknown[]
        }
        if (pending.transactions.length === 1) break
        if (firstFailed !== undefined) assert.fail(`the first stake failed: ${JSON.stringify(firstFailed, replacer)}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      // It passes its simulation on the latest block; its gas estimate on the pending one reverts.
      await assertChainError(as(10).stake(sponsorship.id, rnl('1000')), 'SPONSORSHIP_FULL', /maximum of 1 operators/)
      const pending = (await provider.request({ method: 'eth_getBlockByNumber', params: ['pending', false] })) as {
        transactions: unknown[]
      }
      assert.equal(pending.transactions.length, 1, 'the refused stake was not sent')
      await provider.request({ method: 'evm_mine', params: [] })
      await first
    } finally {
      await provider.request({ method: 'evm_setAutomine', params: [true] })
    }
    assert.equal((await as(1).getSponsorship(sponsorship.id)).operatorCount, 1)
  })
})
