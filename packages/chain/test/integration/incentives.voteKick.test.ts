import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { parseEventLogs, type Address, type Hex } from 'viem'
import { sponsorshipsAbi, voteKickAbi } from '../../src/index.js'
import { expectRevert, FlagStatus, IncentivesHarness, RNL } from '../incentivesHarness.js'

const SPONSOR = 1
/** Owners of the operators: flagger, target and an insider on sponsorship 1; three outsiders staked elsewhere. */
const FLAGGER = 2
const TARGET = 3
const INSIDER = 4
const OUTSIDERS = [5, 6, 7] as const
const DELEGATOR = 8
const STRANGER = 9
const VOTING_PERIOD = 3600

describe('VoteKick on the embedded chain', () => {
  let h: IncentivesHarness
  let snapshot: Hex
  let main: bigint
  let other: bigint
  const op = new Map<number, Address>()

  before(async () => {
    h = await IncentivesHarness.start()
    main = await h.createSponsorship(SPONSOR, await h.createStream(SPONSOR, '/flagged'), { ratePerSecond: 10n ** 15n })
    other = await h.createSponsorship(SPONSOR, await h.createStream(SPONSOR, '/elsewhere'), { ratePerSecond: 1n })
    await h.sponsor(SPONSOR, main, RNL(10_000))
    for (const owner of [FLAGGER, TARGET, INSIDER, ...OUTSIDERS]) {
      const operator = await h.createOperator(owner)
      op.set(owner, operator)
      await h.delegate(owner, operator, RNL(2000))
    }
    snapshot = await h.snapshot()
  })

  afterEach(async () => {
    await h.revert(snapshot)
    snapshot = await h.snapshot()
  })

  after(() => h.stop())

  const at = (owner: number): Address => op.get(owner)!

  /** Stakes the flagger, target and insider on the main sponsorship, the outsiders on the other one. */
  async function stakeAll(): Promise<void> {
    for (const owner of [FLAGGER, TARGET, INSIDER]) await h.stake(owner, at(owner), main, RNL(2000))
    for (const owner of OUTSIDERS) await h.stake(owner, at(owner), other, RNL(1000))
  }

  const vote = (owner: number, flagId: bigint, kick: boolean) =>
    h.send(owner, h.operatorCall(at(owner), 'vote', [flagId, kick]))

  it('refuses flags from or on operators not staked there, on oneself, twice, and from outside an operator', async () => {
    await h.stake(FLAGGER, at(FLAGGER), main, RNL(2000))
    await h.stake(TARGET, at(TARGET), main, RNL(2000))
    await expectRevert(h.flag(INSIDER, at(INSIDER), main, at(TARGET)), 'NotStaked', [main, at(INSIDER)])
    await expectRevert(h.flag(FLAGGER, at(FLAGGER), main, at(INSIDER)), 'NotStaked', [main, at(INSIDER)])
    await expectRevert(h.flag(FLAGGER, at(FLAGGER), main, at(FLAGGER)), 'CannotFlagSelf', [at(FLAGGER)])
    const stranger = h.actor(STRANGER).address
    await expectRevert(h.send(STRANGER, h.voteKickCall('flag', [main, at(TARGET), '{}'])), 'NotAnOperator', [stranger])
    await expectRevert(
      h.send(STRANGER, h.operatorCall(at(FLAGGER), 'flag', [main, at(TARGET), '{}'])),
      'NotOwnerOrNode',
      [stranger],
    )
    // Only the two parties are staked anywhere: nobody could review.
    await expectRevert(h.flag(FLAGGER, at(FLAGGER), main, at(TARGET)), 'NoReviewersAvailable', [main])
    await h.stake(INSIDER, at(INSIDER), main, RNL(2000))
    const flagId = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    await expectRevert(h.flag(INSIDER, at(INSIDER), main, at(TARGET)), 'AlreadyFlagged', [main, at(TARGET), flagId])
    await expectRevert(h.send(STRANGER, h.voteKickCall('vote', [99n, true])), 'FlagNotFound', [99n])
  })

  it('locks the flag stake, and keeps the target from leaving or withdrawing while under review', async () => {
    await stakeAll()
    const flagId = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    const flagger = await h.getStake(main, at(FLAGGER))
    assert.equal(flagger.locked, RNL(50))
    assert.equal((await h.getStake(main, at(TARGET))).underReview, true)
    await expectRevert(h.send(FLAGGER, h.operatorCall(at(FLAGGER), 'unstake', [main])), 'StakeLocked', [
      main,
      at(FLAGGER),
      RNL(50),
    ])
    await expectRevert(h.send(TARGET, h.operatorCall(at(TARGET), 'unstake', [main])), 'UnderReview', [main, at(TARGET)])
    await expectRevert(h.send(TARGET, h.operatorCall(at(TARGET), 'withdrawEarnings', [[main]])), 'UnderReview', [
      main,
      at(TARGET),
    ])
    // The flagger may still withdraw its earnings.
    await h.send(FLAGGER, h.operatorCall(at(FLAGGER), 'withdrawEarnings', [[main]]))
    assert.equal((await h.getFlag(flagId)).status, FlagStatus.Open)
  })

  it('picks reviewers among other staked operators, outsiders of the sponsorship first, no more than exist', async () => {
    await stakeAll()
    const flagged = await h.send(FLAGGER, h.operatorCall(at(FLAGGER), 'flag', [main, at(TARGET), '{"why":"drops"}']))
    const flagId = parseEventLogs({ abi: voteKickAbi, logs: flagged.logs, eventName: 'Flagged' })[0]!.args.flagId
    // Not in the flag's own block: its hash, the seed, is unknown until the block is sealed.
    assert.deepEqual(await h.reviewersOf(flagId), [])
    await expectRevert(h.simulate(STRANGER, h.voteKickCall('pickReviewers', [flagId])), 'PickTooEarly', [
      flagId,
      flagged.blockNumber + 1n,
    ])
    await expectRevert(vote(INSIDER, flagId, true), 'ReviewersNotPicked', [flagId])
    // Anyone may pick, once.
    const receipt = await h.pickReviewers(STRANGER, flagId)
    await expectRevert(h.pickReviewers(STRANGER, flagId), 'ReviewersAlreadyPicked', [flagId])
    const reviewers = await h.reviewersOf(flagId)
    // Five asked, four available (three outsiders and the insider): the outsiders come first.
    assert.equal(reviewers.length, 4)
    assert.deepEqual(new Set(reviewers.slice(0, 3)), new Set(OUTSIDERS.map(at)))
    assert.equal(reviewers[3], at(INSIDER))
    const requested = parseEventLogs({ abi: voteKickAbi, logs: receipt.logs, eventName: 'ReviewRequested' })
    assert.deepEqual(
      requested.map((log) => log.args.reviewer),
      reviewers,
    )
    const flag = await h.getFlag(flagId)
    assert.equal(flag.reviewerCount, 4)
    assert.equal(flag.deadline, (await h.blockTimestamp(receipt)) + BigInt(VOTING_PERIOD))
  })

  it('refuses votes from non-reviewers, second votes and votes after the deadline', async () => {
    await stakeAll()
    const flagId = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    await expectRevert(vote(FLAGGER, flagId, true), 'NotReviewer', [flagId, at(FLAGGER)])
    await expectRevert(vote(TARGET, flagId, false), 'NotReviewer', [flagId, at(TARGET)])
    await expectRevert(h.send(STRANGER, h.voteKickCall('vote', [flagId, true])), 'NotReviewer', [
      flagId,
      h.actor(STRANGER).address,
    ])
    await vote(OUTSIDERS[0], flagId, true)
    await expectRevert(vote(OUTSIDERS[0], flagId, false), 'AlreadyVoted', [flagId, at(OUTSIDERS[0])])
    const { deadline } = await h.getFlag(flagId)
    await expectRevert(h.send(STRANGER, h.voteKickCall('conclude', [flagId])), 'VotingNotEnded', [flagId, deadline])
    await h.increaseTime(VOTING_PERIOD + 1)
    await expectRevert(vote(OUTSIDERS[1], flagId, true), 'VotingEnded', [flagId, deadline])
  })

  it('kicks on a majority: slashes 10%, pays kick voters and the flagger, forfeits earnings, bans, and delegators lose pro rata', async () => {
    await h.delegate(DELEGATOR, at(TARGET), RNL(500))
    await stakeAll()
    await h.increaseTime(100)
    const assetsBeforeFlag = await h.read<bigint>(h.operatorCall(at(TARGET), 'totalAssets'))
    assert.ok(assetsBeforeFlag > RNL(2500), 'uncollected earnings count in the vault')
    const flagId = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    const delegatorValue = await h.valueOf(at(TARGET), h.actor(DELEGATOR).address)
    const targetAssets = await h.read<bigint>(h.operatorCall(at(TARGET), 'totalAssets'))
    const earningsAtFlag = (await h.getStake(main, at(TARGET))).earnings
    const funds = (await h.getSponsorship(main)).unallocated
    const balances = new Map<Address, bigint>()
    for (const owner of [FLAGGER, INSIDER, ...OUTSIDERS]) balances.set(at(owner), await h.balanceOf(at(owner)))

    await vote(OUTSIDERS[0], flagId, true)
    await vote(OUTSIDERS[1], flagId, false)
    await vote(OUTSIDERS[2], flagId, true)
    const earningsBefore = (await h.getStake(main, at(TARGET))).earnings
    const deciding = await vote(INSIDER, flagId, true)
    const [resolved] = parseEventLogs({ abi: voteKickAbi, logs: deciding.logs, eventName: 'FlagResolved' })
    assert.equal(resolved!.args.status, FlagStatus.Kicked)
    assert.equal(resolved!.args.slashed, RNL(200), '10% of 2000')
    const [kicked] = parseEventLogs({ abi: sponsorshipsAbi, logs: deciding.logs, eventName: 'Kicked' })
    assert.equal(kicked!.args.returnedStake, RNL(1800))
    // The earnings of the deciding block too are forfeited.
    assert.ok(kicked!.args.forfeited >= earningsBefore && kicked!.args.forfeited > 0n)

    const target = await h.getStake(main, at(TARGET))
    assert.deepEqual([target.amount, target.kicked, target.underReview], [0n, true, false])
    // Winners get 5 each, the flagger 20, the loser nothing; the rest (200 - 15 - 20) and the forfeit go back.
    for (const owner of [OUTSIDERS[0], OUTSIDERS[2], INSIDER]) {
      assert.equal(await h.balanceOf(at(owner)), balances.get(at(owner))! + RNL(5))
    }
    assert.equal(await h.balanceOf(at(OUTSIDERS[1])), balances.get(at(OUTSIDERS[1]))!)
    assert.equal(await h.balanceOf(at(FLAGGER)), balances.get(at(FLAGGER))! + RNL(20))
    assert.equal((await h.getStake(main, at(FLAGGER))).locked, 0n)
    const view = await h.getSponsorship(main)
    assert.ok(view.unallocated + RNL(1) > funds + RNL(165), 'slash remainder and forfeit back in the funds')
    assert.equal(await h.balanceOf(h.addresses.voteKick), 0n)

    // Under review the vault stopped counting the target's earnings (a kick forfeits them); the kick then took exactly
    // the slash, and the delegator's share value fell by the same fraction.
    assert.equal(targetAssets, RNL(2500))
    assert.ok(earningsAtFlag > 0n)
    const assetsAfter = await h.read<bigint>(h.operatorCall(at(TARGET), 'totalAssets'))
    assert.equal(assetsAfter, RNL(2500) - RNL(200))
    const valueAfter = await h.valueOf(at(TARGET), h.actor(DELEGATOR).address)
    const expected = (delegatorValue * assetsAfter) / targetAssets
    assert.ok(valueAfter <= expected + 1n && valueAfter + 2n >= expected, `${valueAfter} vs ${expected}`)

    await expectRevert(h.stake(TARGET, at(TARGET), main, RNL(1000)), 'WasKicked', [main, at(TARGET)])
    await expectRevert(vote(OUTSIDERS[1], flagId, true), 'FlagNotOpen', [flagId, FlagStatus.Kicked])
  })

  it('slashes the flag stake for a false flag and pays the keep voters', async () => {
    await stakeAll()
    const flagId = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    const funds = (await h.getSponsorship(main)).unallocated
    const before = await h.balanceOf(at(OUTSIDERS[0]))
    await vote(OUTSIDERS[0], flagId, false)
    const deciding = await vote(OUTSIDERS[1], flagId, false) // 2 of 4: the kick side can no longer win
    const [resolved] = parseEventLogs({ abi: voteKickAbi, logs: deciding.logs, eventName: 'FlagResolved' })
    assert.equal(resolved!.args.status, FlagStatus.FalseFlag)
    assert.equal(resolved!.args.slashed, RNL(50))
    const flagger = await h.getStake(main, at(FLAGGER))
    assert.deepEqual([flagger.amount, flagger.locked], [RNL(1950), 0n])
    const target = await h.getStake(main, at(TARGET))
    assert.deepEqual([target.amount, target.underReview, target.kicked], [RNL(2000), false, false])
    assert.equal(await h.balanceOf(at(OUTSIDERS[0])), before + RNL(5))
    assert.ok((await h.getSponsorship(main)).unallocated >= funds + RNL(40) - RNL(1), '50 - 2 × 5 back to the funds')
    // The target may leave again.
    await h.send(TARGET, h.operatorCall(at(TARGET), 'unstake', [main]))
  })

  it('concludes after the deadline: no votes is inconclusive (nobody slashed), more kicks than keeps kicks', async () => {
    await stakeAll()
    const silent = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    await h.increaseTime(VOTING_PERIOD + 1)
    await h.send(STRANGER, h.voteKickCall('conclude', [silent]))
    assert.equal((await h.getFlag(silent)).status, FlagStatus.Inconclusive)
    assert.equal((await h.getStake(main, at(FLAGGER))).amount, RNL(2000))
    assert.equal((await h.getStake(main, at(FLAGGER))).locked, 0n)
    assert.equal((await h.getStake(main, at(TARGET))).underReview, false)
    await expectRevert(h.send(STRANGER, h.voteKickCall('conclude', [silent])), 'FlagNotOpen', [
      silent,
      FlagStatus.Inconclusive,
    ])

    const second = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    await vote(OUTSIDERS[0], second, true)
    await h.increaseTime(VOTING_PERIOD + 1)
    await h.send(STRANGER, h.voteKickCall('conclude', [second]))
    assert.equal((await h.getFlag(second)).status, FlagStatus.Kicked)
    assert.equal((await h.getStake(main, at(TARGET))).kicked, true)
  })

  it('ends a flag whose reviewers were never picked inconclusive once its seed block is 256 blocks old', async () => {
    await stakeAll()
    const flagged = await h.send(FLAGGER, h.operatorCall(at(FLAGGER), 'flag', [main, at(TARGET), '{}']))
    const flagId = parseEventLogs({ abi: voteKickAbi, logs: flagged.logs, eventName: 'Flagged' })[0]!.args.flagId
    await expectRevert(h.send(STRANGER, h.voteKickCall('conclude', [flagId])), 'ReviewersNotPicked', [flagId])
    await h.dev.chain.provider.request({ method: 'hardhat_mine', params: ['0x101'] })
    await h.pickReviewers(STRANGER, flagId)
    assert.equal((await h.getFlag(flagId)).status, FlagStatus.Inconclusive)
    assert.deepEqual(await h.reviewersOf(flagId), [])
    const flagger = await h.getStake(main, at(FLAGGER))
    assert.deepEqual([flagger.amount, flagger.locked], [RNL(2000), 0n])
    assert.equal((await h.getStake(main, at(TARGET))).underReview, false)
  })

  // Regression: a flag stops the target's uncollected earnings counting in its share value (a kick would forfeit
  // them), so new shares were cheap while it was open: flag, delegate to the target, let the flag fail, undelegate,
  // and take most of the target's delegators' earnings for the price of a flag stake.
  it("sells no shares at a discount while the target is under review: a flag can't buy its earnings cheaply", async () => {
    await h.delegate(TARGET, at(TARGET), RNL(8000))
    await h.delegate(DELEGATOR, at(TARGET), RNL(2000))
    await h.stake(TARGET, at(TARGET), main, RNL(12_000))
    for (const owner of [FLAGGER, INSIDER]) await h.stake(owner, at(owner), main, RNL(2000))
    for (const owner of OUTSIDERS) await h.stake(owner, at(owner), other, RNL(1000))
    await h.increaseTime(10 * 86_400)
    const delegatorValue = await h.valueOf(at(TARGET), h.actor(DELEGATOR).address)
    const flagId = await h.flag(FLAGGER, at(FLAGGER), main, at(TARGET))
    const attacker = FLAGGER
    const tokens = await h.balanceOf(h.actor(attacker).address)
    await h.delegate(attacker, at(TARGET), RNL(150_000))
    await vote(OUTSIDERS[0], flagId, false)
    await vote(OUTSIDERS[1], flagId, false)
    assert.equal((await h.getFlag(flagId)).status, FlagStatus.FalseFlag)
    await h.send(
      attacker,
      h.operatorCall(at(TARGET), 'undelegate', [await h.sharesOf(at(TARGET), h.actor(attacker).address)]),
    )
    // Paid what free tokens allow at once, the rest waits in the queue at the share value.
    const queued =
      (await h.read<bigint>(h.operatorCall(at(TARGET), 'queueLength'))) === 0n
        ? 0n
        : await h.read<bigint>(
            h.operatorCall(at(TARGET), 'convertToAssets', [
              (await h.read<{ shares: bigint }>(h.operatorCall(at(TARGET), 'queueEntry', [0n]))).shares,
            ]),
          )
    const profit = (await h.balanceOf(h.actor(attacker).address)) + queued - tokens
    // In for four blocks: at most their earnings (4 s × 10^15 wei/s), nothing of the ten days before.
    assert.ok(profit <= 4n * 10n ** 15n, `the flag sandwich paid ${profit}`)
    assert.ok((await h.valueOf(at(TARGET), h.actor(DELEGATOR).address)) >= delegatorValue, "the delegator's value held")
  })
})

describe('VoteKick reviewer draw among many staked operators', () => {
  let h: IncentivesHarness

  before(async () => {
    h = await IncentivesHarness.start(26)
  })

  after(() => h.stop())

  it('draws distinct reviewers, never the parties, outsiders first, when there are more operators than draws', async () => {
    const main = await h.createSponsorship(1, await h.createStream(1, '/crowded'), { ratePerSecond: 1n })
    const other = await h.createSponsorship(1, await h.createStream(1, '/elsewhere'), { ratePerSecond: 1n })
    // 24 operators: 12 on the flagged sponsorship (insiders), 12 elsewhere (outsiders); 20 draws per pass.
    const insiders: Address[] = []
    const outsiders: Address[] = []
    for (let owner = 2; owner < 26; owner++) {
      const operator = await h.createOperator(owner)
      await h.delegate(owner, operator, RNL(1000))
      const inside = owner < 14
      await h.stake(owner, operator, inside ? main : other, RNL(1000))
      ;(inside ? insiders : outsiders).push(operator)
    }
    for (let round = 0; round < 3; round++) {
      const [flagger, target] = [insiders[round * 2]!, insiders[round * 2 + 1]!]
      const flagId = await h.flag(2 + round * 2, flagger, main, target)
      const reviewers = await h.reviewersOf(flagId)
      assert.equal(new Set(reviewers).size, reviewers.length, 'distinct')
      assert.ok(!reviewers.includes(flagger) && !reviewers.includes(target), 'not a party')
      // Outsiders are drawn first (20 draws among all 24): insiders only fill what those draws left open.
      const firstInsider = reviewers.findIndex((r) => insiders.includes(r))
      if (firstInsider !== -1) {
        assert.ok(
          reviewers.slice(firstInsider).every((r) => insiders.includes(r)),
          'an outsider after an insider',
        )
      }
      // 40 draws for 22 candidates: five are found (fewer never happened in 200,000 simulated draws).
      assert.equal(reviewers.length, 5)
      assert.equal((await h.getFlag(flagId)).reviewerCount, reviewers.length)
    }
  })
})
