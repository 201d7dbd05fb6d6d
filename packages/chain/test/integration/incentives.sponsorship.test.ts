import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { encodeAbiParameters, parseEventLogs, type Address, type Hex } from 'viem'
import { runnelTokenAbi, sponsorshipsAbi } from '../../src/index.js'
import { expectRevert, IncentivesHarness, RNL } from '../incentivesHarness.js'
import { SponsorshipModel } from '../incentivesModel.js'

const SPONSOR = 1
const OWNERS = [2, 3, 4, 5, 6] as const
const STRANGER = 9

describe('RunnelToken and Sponsorships on the embedded chain', () => {
  let h: IncentivesHarness
  let streamId: string
  let snapshot: Hex
  const operators: Address[] = []

  before(async () => {
    h = await IncentivesHarness.start()
    streamId = await h.createStream(SPONSOR, '/sponsored')
    for (const owner of OWNERS) {
      const operator = await h.createOperator(owner)
      await h.delegate(owner, operator, RNL(10_000))
      operators.push(operator)
    }
    snapshot = await h.snapshot()
  })

  afterEach(async () => {
    await h.revert(snapshot)
    snapshot = await h.snapshot()
  })

  after(() => h.stop())

  describe('the token', () => {
    it('lets only its owner mint', async () => {
      const stranger = h.actor(STRANGER).address
      await expectRevert(
        h.send(STRANGER, {
          address: h.addresses.token,
          abi: runnelTokenAbi,
          functionName: 'mint',
          args: [stranger, 1n],
        }),
        'OwnableUnauthorizedAccount',
        [stranger],
      )
      const before = await h.totalSupply()
      await h.send(0, { address: h.addresses.token, abi: runnelTokenAbi, functionName: 'mint', args: [stranger, 7n] })
      assert.equal(await h.totalSupply(), before + 7n)
    })

    it('moves tokens by permit: a signature instead of an approve transaction', async () => {
      const owner = h.wallet(SPONSOR)
      const spender = h.actor(STRANGER).address
      const nonce = await h.read<bigint>({
        address: h.addresses.token,
        abi: runnelTokenAbi,
        functionName: 'nonces',
        args: [owner.account.address],
      })
      const deadline = (await h.latestTimestamp()) + 3600n
      const signature = await owner.signTypedData({
        domain: { name: 'Runnel', version: '1', chainId: h.dev.chain.chainId, verifyingContract: h.addresses.token },
        types: {
          Permit: [
            { name: 'owner', type: 'address' },
            { name: 'spender', type: 'address' },
            { name: 'value', type: 'uint256' },
            { name: 'nonce', type: 'uint256' },
            { name: 'deadline', type: 'uint256' },
          ],
        },
        primaryType: 'Permit',
        message: { owner: owner.account.address, spender, value: RNL(3), nonce, deadline },
      })
      const r = `0x${signature.slice(2, 66)}`
      const s = `0x${signature.slice(66, 130)}`
      const v = Number.parseInt(signature.slice(130, 132), 16)
      const permit = { address: h.addresses.token, abi: runnelTokenAbi, functionName: 'permit' }
      // Relayed by anyone: the stranger pays the gas.
      await h.send(STRANGER, { ...permit, args: [owner.account.address, spender, RNL(3), deadline, v, r, s] })
      assert.equal(
        await h.read({
          address: h.addresses.token,
          abi: runnelTokenAbi,
          functionName: 'allowance',
          args: [owner.account.address, spender],
        }),
        RNL(3),
      )
      // Replaying the same signature fails: the nonce moved on, so it recovers another signer.
      await expectRevert(
        h.send(STRANGER, { ...permit, args: [owner.account.address, spender, RNL(3), deadline, v, r, s] }),
        'ERC2612InvalidSigner',
      )
      await h.send(STRANGER, {
        address: h.addresses.token,
        abi: runnelTokenAbi,
        functionName: 'transferFrom',
        args: [owner.account.address, spender, RNL(3)],
      })
    })

    it('refuses transferAndCall to the sponsorships contract without a known action', async () => {
      await expectRevert(
        h.transferAndCall(SPONSOR, h.addresses.sponsorships, RNL(1), encodeAbiParameters([{ type: 'uint8' }], [9])),
        'UnknownAction',
        [9],
      )
      // A plain transferAndCall carries no data at all: the token names the receiver that refused it.
      await expectRevert(h.transferAndCall(SPONSOR, h.addresses.sponsorships, RNL(1)), 'ERC1363InvalidReceiver', [
        h.addresses.sponsorships,
      ])
      await expectRevert(
        h.send(
          STRANGER,
          h.sponsorshipsCall('onTransferReceived', [h.actor(STRANGER).address, h.actor(STRANGER).address, 1n, '0x']),
        ),
        'OnlyToken',
        [h.actor(STRANGER).address],
      )
    })
  })

  describe('creating and funding', () => {
    it('refuses an unknown stream and bad terms, naming what is wrong', async () => {
      const create = (stream: string, rate: bigint, minOps: number, maxOps: number, minStay: bigint) =>
        h.send(SPONSOR, h.sponsorshipsCall('createSponsorship', [stream, rate, minOps, maxOps, minStay, 0n]))
      await expectRevert(create('0xnobody/nothing', 1n, 1, 2, 0n), 'StreamNotFound', ['0xnobody/nothing'])
      await expectRevert(create(streamId, 0n, 1, 2, 0n), 'InvalidTerms', ['ratePerSecond out of range'])
      await expectRevert(create(streamId, 2n ** 128n + 1n, 1, 2, 0n), 'InvalidTerms', ['ratePerSecond out of range'])
      await expectRevert(create(streamId, 1n, 0, 2, 0n), 'InvalidTerms', ['need 1 <= minOperators <= maxOperators'])
      await expectRevert(create(streamId, 1n, 3, 2, 0n), 'InvalidTerms', ['need 1 <= minOperators <= maxOperators'])
      await expectRevert(create(streamId, 1n, 1, 1001, 0n), 'InvalidTerms', ['maxOperators above 1000'])
      await expectRevert(create(streamId, 1n, 1, 2, 365n * 86400n + 1n), 'InvalidTerms', [
        'minStaySeconds above a year',
      ])
      await expectRevert(h.sponsor(SPONSOR, 42n, RNL(1)), 'SponsorshipNotFound', [42n])
      await expectRevert(h.getSponsorship(42n), 'SponsorshipNotFound', [42n])
    })

    it('takes funds both ways (sponsor with an allowance, transferAndCall without) and creates+funds in one call', async () => {
      const id = await h.createSponsorship(SPONSOR, streamId, { ratePerSecond: 1n })
      await expectRevert(h.send(SPONSOR, h.sponsorshipsCall('sponsor', [id, RNL(5)])), 'ERC20InsufficientAllowance', [
        h.addresses.sponsorships,
        0n,
        RNL(5),
      ])
      await h.approve(SPONSOR, h.addresses.sponsorships, RNL(5))
      await h.send(SPONSOR, h.sponsorshipsCall('sponsor', [id, RNL(5)]))
      await h.sponsor(STRANGER, id, RNL(2))
      await expectRevert(h.sponsor(SPONSOR, id, 0n), 'ZeroAmount', [])
      assert.equal((await h.getSponsorship(id)).unallocated, RNL(7))

      const data = encodeAbiParameters(
        [
          { type: 'uint8' },
          { type: 'string' },
          { type: 'uint256' },
          { type: 'uint32' },
          { type: 'uint32' },
          { type: 'uint64' },
          { type: 'uint256' },
        ],
        [3, streamId, 10n, 1, 5, 60n, RNL(1)],
      )
      const receipt = await h.transferAndCall(STRANGER, h.addresses.sponsorships, RNL(11), data)
      const [created] = parseEventLogs({ abi: sponsorshipsAbi, logs: receipt.logs, eventName: 'SponsorshipCreated' })
      assert.equal(created!.args.sponsorshipId, id + 1n)
      assert.equal(created!.args.creator, h.actor(STRANGER).address)
      const view = await h.read<{ unallocated: bigint; maxOperators: number; minStaySeconds: bigint }>(
        h.sponsorshipsCall('getSponsorship', [id + 1n]),
      )
      assert.equal(view.unallocated, RNL(11))
      assert.equal(view.maxOperators, 5)
      assert.equal(view.minStaySeconds, 60n)
    })
  })

  describe('staking', () => {
    it('only lets operator contracts stake, at least the minimum stake, up to maxOperators', async () => {
      const id = await h.createSponsorship(SPONSOR, streamId, { ratePerSecond: 1n, maxOperators: 2 })
      const stranger = h.actor(STRANGER).address
      await h.approve(STRANGER, h.addresses.sponsorships, RNL(2000))
      await expectRevert(h.send(STRANGER, h.sponsorshipsCall('stake', [id, RNL(2000)])), 'NotAnOperator', [stranger])
      await expectRevert(h.stake(2, operators[0]!, id, RNL(999)), 'StakeBelowMinimum', [RNL(999), RNL(1000)])
      await expectRevert(h.stake(2, operators[0]!, id, 0n), 'ZeroAmount', [])
      await expectRevert(h.stake(2, operators[0]!, 77n, RNL(1000)), 'SponsorshipNotFound', [77n])
      await h.stake(2, operators[0]!, id, RNL(1000))
      // Adding to a stake has no minimum.
      await h.stake(2, operators[0]!, id, 1n)
      await h.stake(3, operators[1]!, id, RNL(1000))
      await expectRevert(h.stake(4, operators[2]!, id, RNL(1000)), 'SponsorshipFull', [id, 2])
      const view = await h.getSponsorship(id)
      assert.equal(view.operatorCount, 2)
      assert.equal(view.totalStake, RNL(2000) + 1n)
      // The owner may not move more than the operator holds.
      await expectRevert(h.stake(5, operators[3]!, id, RNL(10_001)), 'ERC20InsufficientBalance')
    })

    it('caps the sponsorships one operator is staked on at 32', async () => {
      const operator = operators[0]!
      await h.delegate(2, operator, RNL(30_000))
      const ids: bigint[] = []
      for (let i = 0; i < 33; i++) ids.push(await h.createSponsorship(SPONSOR, streamId, { ratePerSecond: 1n }))
      for (const id of ids.slice(0, 32)) await h.stake(2, operator, id, RNL(1000))
      await expectRevert(h.stake(2, operator, ids[32]!, RNL(1000)), 'TooManySponsorships', [operator, 32n])
    })

    it('pays nothing until minOperators are staked, then rate × time split by stake', async () => {
      const rate = 10n ** 15n
      const id = await h.createSponsorship(SPONSOR, streamId, { ratePerSecond: rate, minOperators: 2 })
      await h.sponsor(SPONSOR, id, RNL(1000))
      const [a, b] = [operators[0]!, operators[1]!]
      await h.stake(2, a, id, RNL(1000))
      await h.increaseTime(500)
      assert.equal((await h.getStake(id, a)).earnings, 0n, 'one operator of two: no payout')
      assert.equal((await h.getSponsorship(id)).paying, false)
      const start = (await h.latestTimestamp()) + 10n
      await h.setNextTimestamp(start)
      await h.stake(3, b, id, RNL(3000))
      assert.equal((await h.getSponsorship(id)).paying, true)
      await h.setNextTimestamp(start + 100n)
      await h.dev.chain.provider.request({ method: 'evm_mine', params: [] })
      // 100 s × 10^15 wei/s = 10^17, a quarter to the 1000 stake, three quarters to the 3000 stake.
      assert.equal((await h.getStake(id, a)).earnings, 25n * 10n ** 15n)
      assert.equal((await h.getStake(id, b)).earnings, 75n * 10n ** 15n)
      assert.equal((await h.getSponsorship(id)).unallocated, RNL(1000) - 10n ** 17n)
    })

    it('stops paying when the funds run out, and keeps the rounding remainder (never pays more than funded)', async () => {
      const id = await h.createSponsorship(SPONSOR, streamId, { ratePerSecond: 7n })
      await h.sponsor(SPONSOR, id, 1000n)
      const [a, b] = [operators[0]!, operators[1]!]
      await h.stake(2, a, id, RNL(1000) + 1n)
      await h.stake(3, b, id, RNL(2000) + 7n)
      await h.increaseTime(1000)
      const view = await h.getSponsorship(id)
      assert.equal(view.paying, false)
      const earned = (await h.getStake(id, a)).earnings + (await h.getStake(id, b)).earnings
      assert.ok(earned <= 1000n, `paid ${earned} of 1000`)
      assert.ok(earned + view.unallocated <= 1000n && earned >= 995n, `${earned} + ${view.unallocated}`)
      await h.increaseTime(1000)
      assert.equal((await h.getStake(id, a)).earnings + (await h.getStake(id, b)).earnings, earned, 'dry: no more')
    })

    // Regression: the funds used to be charged the index step's worth rounded DOWN, while each operator settles many
    // steps at once and so gathers the fractions of several: with a 3000-token stake at 1 wei/s every step was worth
    // 0.999… wei, charged 0, yet after 20 steps the operator had earned 19 wei nobody paid for.
    it('charges the funds for every wei an operator earns, however many index steps its earnings gather', async () => {
      const id = await h.createSponsorship(SPONSOR, streamId, { ratePerSecond: 1n })
      await h.sponsor(SPONSOR, id, 1000n)
      const operator = operators[0]!
      await h.stake(2, operator, id, RNL(3000))
      for (let i = 0; i < 20; i++) await h.sponsor(SPONSOR, id, 1n)
      const view = await h.getSponsorship(id)
      const earnings = (await h.getStake(id, operator)).earnings
      assert.equal(earnings, 19n)
      const balance = await h.balanceOf(h.addresses.sponsorships)
      const liabilities = view.unallocated + view.totalStake + earnings
      assert.ok(balance >= liabilities, `balance ${balance} < liabilities ${liabilities}`)
      assert.ok(balance - liabilities <= 21n, `dust ${balance - liabilities}`)
    })

    it('charges the early-leave penalty before minStay and returns stake + earnings after', async () => {
      const rate = 10n ** 12n
      const id = await h.createSponsorship(SPONSOR, streamId, {
        ratePerSecond: rate,
        minStaySeconds: 1000,
        earlyLeavePenalty: RNL(100),
      })
      await h.sponsor(SPONSOR, id, RNL(100))
      const [a, b] = [operators[0]!, operators[1]!]
      const staked = await h.stake(2, a, id, RNL(2000))
      const model = new SponsorshipModel(
        { ratePerSecond: rate, minOperators: 1, maxOperators: 100, minStaySeconds: 1000n, earlyLeavePenalty: RNL(100) },
        0n,
      )
      model.sponsor(0n, RNL(100))
      model.stake(await h.blockTimestamp(staked), a, RNL(2000))
      await h.stake(3, b, id, RNL(1000)).then(async (r) => model.stake(await h.blockTimestamp(r), b, RNL(1000)))
      await h.increaseTime(100)

      const balanceBefore = await h.balanceOf(a)
      const early = await h.send(2, h.operatorCall(a, 'unstake', [id]))
      const expected = model.unstake(await h.blockTimestamp(early), a)
      const [unstaked] = parseEventLogs({ abi: sponsorshipsAbi, logs: early.logs, eventName: 'Unstaked' })
      assert.equal(unstaked!.args.penalty, RNL(100))
      assert.equal(unstaked!.args.returnedStake, RNL(1900))
      assert.equal(unstaked!.args.earnings, expected.earnings)
      assert.ok(expected.earnings > 0n)
      assert.equal(await h.balanceOf(a), balanceBefore + RNL(1900) + expected.earnings)
      assert.equal((await h.getSponsorship(id)).unallocated, model.projected(await h.latestTimestamp()).unallocated)

      await h.increaseTime(1000)
      const late = await h.send(3, h.operatorCall(b, 'unstake', [id]))
      const lateExpected = model.unstake(await h.blockTimestamp(late), b)
      const [lateEvent] = parseEventLogs({ abi: sponsorshipsAbi, logs: late.logs, eventName: 'Unstaked' })
      assert.equal(lateEvent!.args.penalty, 0n)
      assert.equal(lateEvent!.args.returnedStake, RNL(1000))
      assert.equal(lateEvent!.args.earnings, lateExpected.earnings)
      await expectRevert(h.send(3, h.operatorCall(b, 'unstake', [id])), 'NotStaked', [id, b])
      await expectRevert(h.send(3, h.operatorCall(b, 'withdrawEarnings', [[id]])), 'NotStaked', [id, b])
    })

    it('pays earnings on withdrawal without touching the stake, and lets only the vote-kick contract slash', async () => {
      const id = await h.createSponsorship(SPONSOR, streamId, { ratePerSecond: 10n ** 12n })
      await h.sponsor(SPONSOR, id, RNL(1))
      const a = operators[0]!
      await h.stake(2, a, id, RNL(1000))
      await h.increaseTime(50)
      const before = await h.balanceOf(a)
      const receipt = await h.send(2, h.operatorCall(a, 'withdrawEarnings', [[id]]))
      const [withdrawn] = parseEventLogs({ abi: sponsorshipsAbi, logs: receipt.logs, eventName: 'EarningsWithdrawn' })
      assert.equal(await h.balanceOf(a), before + withdrawn!.args.amount)
      assert.equal((await h.getStake(id, a)).earnings, 0n)
      assert.equal((await h.getStake(id, a)).amount, RNL(1000))
      const stranger = h.actor(STRANGER).address
      for (const [functionName, args] of [
        ['slash', [id, a, 1n]],
        ['kick', [id, a]],
        ['lockStake', [id, a, 1n]],
        ['unlockStake', [id, a, 1n]],
        ['setUnderReview', [id, a, true]],
      ] as const) {
        await expectRevert(h.send(STRANGER, h.sponsorshipsCall(functionName, args)), 'OnlyVoteKick', [stranger])
      }
    })
  })
})
