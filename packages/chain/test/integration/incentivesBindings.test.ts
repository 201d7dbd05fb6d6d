import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { parseUnits, type Address } from 'viem'
import type { RunnelIncentives } from '../../src/index.js'
import { assertChainError, incentivesFor, startTestChain, type TestChain } from '../fixtures.js'

const rnl = (amount: string): bigint => parseUnits(amount, 18)

/** The bindings over the real embedded chain: each call lands, each refusal is a typed ChainError. */
describe('RunnelIncentives', () => {
  let dev: TestChain
  let streamId: string
  const as = (index: number): RunnelIncentives => incentivesFor(dev, index)
  const increaseTime = async (seconds: number): Promise<void> => {
    await dev.chain.provider.request({ method: 'evm_increaseTime', params: [seconds] })
    await dev.chain.provider.request({ method: 'evm_mine', params: [] })
  }

  before(async () => {
    dev = await startTestChain()
    streamId = (await dev.registryFor(1).createStream('/incentives')).id
  })
  after(() => dev.stop())

  it('runs a sponsorship from creation to earnings, delegation, flag and kick', async () => {
    const sponsor = as(1)
    const sponsorship = await sponsor.createSponsorship(
      { streamId, ratePerSecond: rnl('1'), minOperators: 2, maxOperators: 10 },
      rnl('100000'),
    )
    assert.equal(sponsorship.id, 1)
    assert.equal(sponsorship.unallocated, rnl('100000'))
    assert.equal(sponsorship.paying, false)

    // Three operators (owners 2, 3, 4), each self-delegating; a delegator (5) joins operator 3.
    const owners = [as(2), as(3), as(4)]
    const operators: Address[] = []
    for (const owner of owners) {
      const operator = await owner.createOperator({ cutBps: 1000 })
      await owner.delegate(operator, rnl('10000'))
      await owner.stake(sponsorship.id, rnl('5000'))
      operators.push(operator)
    }
    const [honestA, honestB, freeRider] = operators as [Address, Address, Address]
    await as(5).delegate(freeRider, rnl('500'))
    const before = await as(5).getDelegation(freeRider)
    assert.ok(before.value > rnl('499') && before.value <= rnl('500'))

    await increaseTime(100)
    const stake = await sponsor.getStake(sponsorship.id, honestA)
    assert.equal(stake.amount, rnl('5000'))
    assert.ok(stake.earnings > 0n, 'earnings accrue with time')
    assert.deepEqual(await sponsor.sponsorshipsOf(honestA), [1])

    const ownerBalance = await owners[0]!.tokenBalance()
    await owners[0]!.withdrawEarnings(honestA)
    assert.ok((await owners[0]!.tokenBalance()) > ownerBalance, 'the owner got its cut')

    const flagId = await owners[0]!.flag(honestA, sponsorship.id, freeRider, '{"missed":100}')
    const flag = await sponsor.getFlag(flagId)
    assert.equal(flag.status, 'open')
    assert.deepEqual(flag.reviewers, [honestB], 'the only operator left to review')
    assert.deepEqual(
      (await sponsor.reviewRequests(honestB)).map((r) => [r.flagId, r.target]),
      [[flagId, freeRider]],
    )
    await assertChainError(owners[2]!.unstake(sponsorship.id), 'UNDER_REVIEW')
    await assertChainError(owners[2]!.vote(freeRider, flagId, false), 'NOT_REVIEWER')

    await owners[1]!.vote(honestB, flagId, true)
    assert.equal((await sponsor.getFlag(flagId)).status, 'kicked')
    const kicked = await sponsor.getStake(sponsorship.id, freeRider)
    assert.equal(kicked.amount, 0n)
    assert.equal(kicked.kicked, true)
    const afterKick = await as(5).getDelegation(freeRider)
    assert.ok(afterKick.value < before.value, "the kicked operator's delegators lose value")
    await assertChainError(owners[2]!.stake(sponsorship.id, rnl('5000')), 'KICKED')
    await assertChainError(owners[1]!.vote(honestB, flagId, true), 'FLAG_CLOSED')
  })

  it('refuses bad input with typed errors', async () => {
    const user = as(6)
    await assertChainError(
      user.createSponsorship({ streamId: `${user.account.toLowerCase()}/nope`, ratePerSecond: 1n }),
      'STREAM_NOT_FOUND',
    )
    await assertChainError(user.createSponsorship({ streamId, ratePerSecond: 0n }), 'INVALID_ARGUMENT', /rate/)
    await assertChainError(user.getSponsorship(999), 'SPONSORSHIP_NOT_FOUND')
    await assertChainError(user.stake(1, rnl('1')), 'OPERATOR_NOT_FOUND')
    const operator = await user.createOperator()
    await assertChainError(user.createOperator(), 'OPERATOR_EXISTS')
    await user.delegate(operator, rnl('2000'))
    await assertChainError(user.stake(1, rnl('10')), 'STAKE_BELOW_MINIMUM', /1000 RNL/)
    await assertChainError(user.stake(1, rnl('5000')), 'INSUFFICIENT_FUNDS')
    await assertChainError(as(7).setCut(5, operator), 'PERMISSION_DENIED')
    // The owner holds 2,000 of 52,000: under the 5% its delegators need.
    await assertChainError(as(7).delegate(operator, rnl('50000')), 'SELF_DELEGATION_TOO_LOW', /5%/)
    await assertChainError(user.getFlag(999), 'FLAG_NOT_FOUND')
    await assertChainError(user.getOperator(user.account), 'OPERATOR_NOT_FOUND')
    await assertChainError(as(8).transferTokens(user.account, 10n ** 30n), 'INSUFFICIENT_FUNDS')
  })
})
