/**
 * Random sequences of every incentive action from many accounts, on the real
 * embedded chain, with the invariants checked after every step and the
 * earnings math compared to the reference model to the wei.
 *
 * RUNNEL_PROPERTY_SEED replays a run (a failure prints its seed);
 * RUNNEL_PROPERTY_STEPS makes a long run (default 200 steps, a few seconds).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { getAddress, parseEventLogs, type Address, type TransactionReceipt } from 'viem'
import { operatorAbi, runnelTokenAbi, sponsorshipsAbi, voteKickAbi } from '../../src/index.js'
import { decodeRevert, expectRevert, FlagStatus, IncentivesHarness, RNL } from '../incentivesHarness.js'
import { SeededPrng, SponsorshipModel, VIRTUAL_SHARES, sharesForDeposit, type ModelTerms } from '../incentivesModel.js'

const SEED = Number(process.env.RUNNEL_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31))
const STEPS = Number(process.env.RUNNEL_PROPERTY_STEPS ?? 200)
const ACCOUNTS = 16
const SPONSORS = [1, 7, 8] as const
const OWNERS = [2, 3, 4, 5, 6] as const
const DELEGATORS = [7, 8, 9, 10, 11, 12, 13, 14] as const
const ANYONE = 15
const FLAG_STAKE = RNL(50)
const REVIEWER_REWARD = RNL(5)
const FLAGGER_REWARD = RNL(20)
const SLASH_BPS = 1000n
const CUT_BPS = [0n, 500n, 2000n, 1234n, 10_000n] as const

interface OperatorState {
  readonly owner: number
  readonly address: Address
  readonly cutBps: bigint
  /** Mirror of the undelegation queue: who waits, for how many shares, in order. */
  readonly queue: { delegator: Address; shares: bigint }[]
}

interface FlagState {
  readonly id: bigint
  readonly sponsorshipId: bigint
  readonly flagger: Address
  readonly target: Address
  readonly reviewers: readonly Address[]
  readonly ballots: Map<Address, boolean>
}

interface VaultSnapshot {
  readonly totalAssets: bigint
  readonly totalShares: bigint
}

describe(`incentives property test (seed ${SEED}, ${STEPS} steps)`, () => {
  let h: IncentivesHarness
  const rng = new SeededPrng(SEED)
  const models = new Map<bigint, SponsorshipModel>()
  const operators: OperatorState[] = []
  const flags = new Map<bigint, FlagState>()
  const operatorByAddress = new Map<Address, OperatorState>()
  let maxDust = 0n
  let invariantChecks = 0
  const counts: Record<string, { ok: number; reverted: number }> = {}
  const reverts: Record<string, number> = {}

  before(async () => {
    h = await IncentivesHarness.start(ACCOUNTS)
    for (const [i, rate] of [10n ** 15n + 12_345n, 3n * 10n ** 14n + 7n, 10n ** 16n + 99_991n].entries()) {
      const terms: ModelTerms = [
        { ratePerSecond: rate, minOperators: 1, maxOperators: 4, minStaySeconds: 600n, earlyLeavePenalty: RNL(10) },
        { ratePerSecond: rate, minOperators: 2, maxOperators: 5, minStaySeconds: 0n, earlyLeavePenalty: 0n },
        { ratePerSecond: rate, minOperators: 3, maxOperators: 3, minStaySeconds: 3600n, earlyLeavePenalty: RNL(1) },
      ][i]!
      const streamId = await h.createStream(1, `/property/${i}`)
      const call = h.sponsorshipsCall('createSponsorship', [
        streamId,
        terms.ratePerSecond,
        terms.minOperators,
        terms.maxOperators,
        terms.minStaySeconds,
        terms.earlyLeavePenalty,
      ])
      const id = (await h.simulate(1, call)) as bigint
      const receipt = await h.send(1, call)
      models.set(id, new SponsorshipModel(terms, await h.blockTimestamp(receipt)))
      await applySponsor(1, id, RNL(2000))
    }
    for (const [i, owner] of OWNERS.entries()) {
      const address = await h.createOperator(owner, Number(CUT_BPS[i]!))
      const state: OperatorState = { owner, address, cutBps: CUT_BPS[i]!, queue: [] }
      operators.push(state)
      operatorByAddress.set(address, state)
      await h.delegate(owner, address, RNL(3000) + rng.bigint(0n, 10n ** 18n))
    }
    await checkInvariants('setup')
  })

  after(() => h.stop())

  it('keeps every invariant and matches the reference model to the wei', async () => {
    const actions: [number, () => Promise<string>][] = [
      [10, sponsorStep],
      [12, delegateStep],
      [10, undelegateStep],
      [3, payOutQueueStep],
      [14, stakeStep],
      [6, unstakeStep],
      [8, withdrawStep],
      [4, forceUnstakeStep],
      [7, flagStep],
      [10, voteStep],
      [3, concludeStep],
      [10, timeStep],
    ]
    const totalWeight = actions.reduce((sum, [weight]) => sum + weight, 0)
    let step = 0
    try {
      for (step = 0; step < STEPS; step++) {
        let roll = rng.int(1, totalWeight)
        const action = actions.find(([weight]) => (roll -= weight) <= 0)![1]
        const name = await action()
        await checkInvariants(name)
      }
    } catch (err) {
      console.error(`property test failed at step ${step} with seed ${SEED}: RUNNEL_PROPERTY_SEED=${SEED} to replay`)
      throw err
    }
    console.log(
      `seed ${SEED}: ${JSON.stringify(counts)}, reverts ${JSON.stringify(reverts)}, at most ${maxDust} wei of rounding dust`,
    )
    // A run that exercised nothing proves nothing.
    for (const name of ['stake', 'delegate', 'undelegate', 'withdraw', 'sponsor']) {
      assert.ok((counts[name]?.ok ?? 0) > 0, `no successful ${name} in the run`)
    }
  })

  // ---- actions ----

  /** Sends a transaction; returns the receipt, or undefined when it reverted with one of the `allowed` errors. */
  async function attempt(
    name: string,
    from: number,
    call: Parameters<IncentivesHarness['send']>[1],
    allowed: readonly string[],
  ): Promise<TransactionReceipt | undefined> {
    const count = (counts[name] ??= { ok: 0, reverted: 0 })
    try {
      const receipt = await h.send(from, call)
      count.ok += 1
      return receipt
    } catch (err) {
      const decoded = decodeRevert(err)
      if (decoded !== undefined && allowed.includes(decoded.errorName)) {
        count.reverted += 1
        reverts[`${name}:${decoded.errorName}`] = (reverts[`${name}:${decoded.errorName}`] ?? 0) + 1
        return undefined
      }
      throw err
    }
  }

  async function applySponsor(from: number, id: bigint, amount: bigint): Promise<void> {
    const receipt = await h.sponsor(from, id, amount)
    models.get(id)!.sponsor(await h.blockTimestamp(receipt), amount)
  }

  async function sponsorStep(): Promise<string> {
    const id = rng.pick([...models.keys()])
    await applySponsor(rng.pick(SPONSORS), id, rng.bigint(1n, RNL(1500)))
    ;(counts.sponsor ??= { ok: 0, reverted: 0 }).ok += 1
    return 'sponsor'
  }

  async function delegateStep(): Promise<string> {
    const operator = rng.pick(operators)
    const delegator = rng.chance(0.15) ? operator.owner : rng.pick(DELEGATORS)
    const amount = rng.bigint(1n, RNL(2500))
    const [before, tokens] = await Promise.all([vault(operator), h.balanceOf(operator.address)])
    const receipt = await attempt(
      'delegate',
      delegator,
      {
        address: h.addresses.token,
        abi: runnelTokenAbi,
        functionName: 'transferAndCall',
        args: [operator.address, amount],
      },
      ['SelfDelegationTooLow'],
    )
    if (receipt === undefined) return 'delegate'
    const [deposit] = parseEventLogs({ abi: operatorAbi, logs: receipt.logs, eventName: 'Deposit' })
    // Shares come only from a deposit, at the vault's price just before it (earnings accrued up to its block).
    const now = await h.blockTimestamp(receipt)
    const priced = vaultAssets(operator, tokens, now, true)
    assert.equal(deposit!.args.shares, sharesForDeposit(amount, priced, before.totalShares), 'minted shares')
    const afterVault = await vault(operator)
    assert.equal(afterVault.totalShares, before.totalShares + deposit!.args.shares)
    assert.equal(afterVault.totalAssets, vaultAssets(operator, tokens, now) + amount)
    return 'delegate'
  }

  async function undelegateStep(): Promise<string> {
    const operator = rng.pick(operators)
    const candidates = rng.chance(0.2) ? [operator.owner] : DELEGATORS
    const withShares = (
      await Promise.all(
        candidates.map(async (i) => [i, await h.sharesOf(operator.address, h.actor(i).address)] as const),
      )
    ).filter(([, shares]) => shares > 0n)
    if (withShares.length === 0) return 'undelegate'
    const [holder, shares] = rng.pick(withShares)
    const address = h.actor(holder).address
    const amount = rng.chance(0.3) ? shares : rng.bigint(1n, shares)
    const receipt = await attempt('undelegate', holder, h.operatorCall(operator.address, 'undelegate', [amount]), [
      'SelfDelegationTooLow',
    ])
    if (receipt === undefined) return 'undelegate'
    operator.queue.push({ delegator: address, shares: amount })
    applyPayouts(receipt)
    return 'undelegate'
  }

  async function payOutQueueStep(): Promise<string> {
    const operator = rng.pick(operators)
    const receipt = await attempt('payOutQueue', ANYONE, h.operatorCall(operator.address, 'payOutQueue'), [])
    applyPayouts(receipt!)
    return 'payOutQueue'
  }

  async function stakeStep(): Promise<string> {
    const operator = rng.pick(operators)
    const id = rng.pick([...models.keys()])
    const free = await h.balanceOf(operator.address)
    if (free === 0n && rng.chance(0.8)) return 'stake'
    // Mostly what the operator can afford, sometimes all of it (so undelegations must queue), sometimes anything.
    const roll = rng.next()
    const wanted = rng.bigint(RNL(1000), RNL(4000))
    const amount =
      roll < 0.25 && free > 0n
        ? free
        : roll < 0.85
          ? wanted < free
            ? wanted
            : free > 0n
              ? free
              : wanted
          : rng.bigint(1n, RNL(5000))
    const receipt = await attempt('stake', operator.owner, h.operatorCall(operator.address, 'stake', [id, amount]), [
      'UndelegationQueueNotEmpty',
      'SponsorshipFull',
      'StakeBelowMinimum',
      'WasKicked',
      ...(amount > free ? ['ERC20InsufficientBalance'] : []),
    ])
    if (receipt !== undefined) models.get(id)!.stake(await h.blockTimestamp(receipt), operator.address, amount)
    return 'stake'
  }

  async function unstakeStep(): Promise<string> {
    const operator = rng.pick(operators)
    const staked = [...models.entries()].filter(([, model]) => model.stakeOf(operator.address) > 0n)
    if (staked.length === 0) return 'unstake'
    const [id, model] = rng.pick(staked)
    const receipt = await attempt('unstake', operator.owner, h.operatorCall(operator.address, 'unstake', [id]), [
      'UnderReview',
      'StakeLocked',
    ])
    if (receipt === undefined) return 'unstake'
    checkUnstake(receipt, operator, model, id, await h.blockTimestamp(receipt))
    applyPayouts(receipt)
    return 'unstake'
  }

  async function forceUnstakeStep(): Promise<string> {
    const waiting = operators.filter((o) => o.queue.length > 0)
    const operator = rng.pick(waiting.length > 0 ? waiting : operators)
    const staked = [...models.keys()].filter((id) => models.get(id)!.stakeOf(operator.address) > 0n)
    const id = rng.pick(staked.length > 0 ? staked : [...models.keys()])
    const receipt = await attempt('forceUnstake', ANYONE, h.operatorCall(operator.address, 'forceUnstake', [id]), [
      'QueueNotOverdue',
      'NotStaked',
      'UnderReview',
      'StakeLocked',
    ])
    if (receipt === undefined) return 'forceUnstake'
    checkUnstake(receipt, operator, models.get(id)!, id, await h.blockTimestamp(receipt))
    applyPayouts(receipt)
    return 'forceUnstake'
  }

  function checkUnstake(
    receipt: TransactionReceipt,
    operator: OperatorState,
    model: SponsorshipModel,
    id: bigint,
    now: bigint,
  ): void {
    const expected = model.unstake(now, operator.address)
    const [event] = parseEventLogs({ abi: sponsorshipsAbi, logs: receipt.logs, eventName: 'Unstaked' })
    assert.equal(event!.args.sponsorshipId, id)
    assert.equal(event!.args.returnedStake, expected.returned, 'returned stake')
    assert.equal(event!.args.penalty, expected.penalty, 'penalty')
    assert.equal(event!.args.earnings, expected.earnings, 'earnings paid on unstake')
    checkCollected(receipt, operator, expected.earnings)
  }

  function checkCollected(receipt: TransactionReceipt, operator: OperatorState, earnings: bigint): void {
    const collected = parseEventLogs({ abi: operatorAbi, logs: receipt.logs, eventName: 'EarningsCollected' })
    if (earnings === 0n) return assert.equal(collected.length, 0)
    assert.equal(collected[0]!.args.earnings, earnings, 'collected earnings')
    assert.equal(collected[0]!.args.ownerCut, (earnings * operator.cutBps) / 10_000n, "owner's cut")
  }

  async function withdrawStep(): Promise<string> {
    const operator = rng.pick(operators)
    const staked = [...models.entries()].filter(([, model]) => model.stakeOf(operator.address) > 0n)
    const ids = staked.filter(() => rng.chance(0.7)).map(([id]) => id)
    const sender = rng.chance(0.5) ? operator.owner : ANYONE
    if (sender === ANYONE) {
      const anyone = h.actor(ANYONE).address
      await expectRevert(
        h.send(ANYONE, h.operatorCall(operator.address, 'withdrawEarnings', [ids])),
        'NotOwnerOrNode',
        [anyone],
      )
      return 'withdraw'
    }
    const receipt = await attempt('withdraw', sender, h.operatorCall(operator.address, 'withdrawEarnings', [ids]), [
      'UnderReview',
    ])
    if (receipt === undefined) return 'withdraw'
    const now = await h.blockTimestamp(receipt)
    const events = parseEventLogs({ abi: sponsorshipsAbi, logs: receipt.logs, eventName: 'EarningsWithdrawn' })
    let total = 0n
    for (const id of ids) {
      const earnings = models.get(id)!.withdraw(now, operator.address)
      total += earnings
      const event = events.find((e) => e.args.sponsorshipId === id)
      assert.equal(event?.args.amount ?? 0n, earnings, `withdrawn from sponsorship ${id}`)
    }
    checkCollected(receipt, operator, total)
    applyPayouts(receipt)
    return 'withdraw'
  }

  async function flagStep(): Promise<string> {
    const id = rng.pick([...models.keys()])
    const staked = [...models.get(id)!.stakes.keys()] as Address[]
    if (staked.length < 2) return 'flag'
    const flagger = operatorByAddress.get(rng.pick(staked))!
    const target = rng.pick(staked.filter((address) => address !== flagger.address))
    const call = h.operatorCall(flagger.address, 'flag', [id, target, '{}'])
    const receipt = await attempt('flag', flagger.owner, call, [
      'AlreadyFlagged',
      'NoReviewersAvailable',
      'InsufficientFreeStake',
    ])
    if (receipt === undefined) return 'flag'
    const [flagged] = parseEventLogs({ abi: voteKickAbi, logs: receipt.logs, eventName: 'Flagged' })
    const flagId = flagged!.args.flagId
    await h.pickReviewers(flagger.owner, flagId)
    const reviewers = await h.reviewersOf(flagId)
    assert.ok(!reviewers.includes(flagger.address) && !reviewers.includes(target), 'reviewers exclude both parties')
    assert.equal(new Set(reviewers).size, reviewers.length, 'no reviewer twice')
    flags.set(flagId, {
      id: flagId,
      sponsorshipId: id,
      flagger: flagger.address,
      target,
      reviewers,
      ballots: new Map(),
    })
    return 'flag'
  }

  async function voteStep(): Promise<string> {
    const open = [...flags.values()].filter((f) => f.ballots.size < f.reviewers.length)
    if (open.length === 0) return 'vote'
    const flag = rng.pick(open)
    const reviewer = rng.pick(flag.reviewers.filter((r) => !flag.ballots.has(r)))
    const kick = rng.chance(0.6)
    const owner = operatorByAddress.get(reviewer)!.owner
    const receipt = await attempt('vote', owner, h.operatorCall(reviewer, 'vote', [flag.id, kick]), ['VotingEnded'])
    if (receipt === undefined) return 'vote'
    flag.ballots.set(reviewer, kick)
    await applyResolution(flag, receipt)
    return 'vote'
  }

  async function concludeStep(): Promise<string> {
    if (flags.size === 0) return 'conclude'
    const flag = rng.pick([...flags.values()])
    const receipt = await attempt('conclude', ANYONE, h.voteKickCall('conclude', [flag.id]), ['VotingNotEnded'])
    if (receipt !== undefined) await applyResolution(flag, receipt)
    return 'conclude'
  }

  async function applyResolution(flag: FlagState, receipt: TransactionReceipt): Promise<void> {
    const [resolved] = parseEventLogs({ abi: voteKickAbi, logs: receipt.logs, eventName: 'FlagResolved' })
    if (resolved === undefined) return
    flags.delete(flag.id)
    const now = await h.blockTimestamp(receipt)
    const model = models.get(flag.sponsorshipId)!
    const kicks = [...flag.ballots.values()].filter((kick) => kick).length
    const keeps = flag.ballots.size - kicks
    const status = Number(resolved.args.status)
    const expectedStatus =
      kicks * 2 > flag.reviewers.length
        ? FlagStatus.Kicked
        : keeps * 2 >= flag.reviewers.length
          ? FlagStatus.FalseFlag
          : kicks === 0 && keeps === 0
            ? FlagStatus.Inconclusive
            : kicks > keeps
              ? FlagStatus.Kicked
              : FlagStatus.FalseFlag
    assert.equal(status, expectedStatus, `outcome of flag ${flag.id} (${kicks} kick, ${keeps} keep)`)
    const payWinners = (slashed: bigint, winningKick: boolean): bigint => {
      let left = slashed
      for (const reviewer of flag.reviewers) {
        if (flag.ballots.get(reviewer) !== winningKick || left === 0n) continue
        left -= left < REVIEWER_REWARD ? left : REVIEWER_REWARD
      }
      return left
    }
    if (status === FlagStatus.Kicked) {
      const stake = model.stakeOf(flag.target)
      const { slashed } = model.slash(now, flag.target, (stake * SLASH_BPS) / 10_000n)
      const kicked = model.kick(now, flag.target)
      const [kickEvent] = parseEventLogs({ abi: sponsorshipsAbi, logs: receipt.logs, eventName: 'Kicked' })
      if (stake !== 0n) {
        assert.equal(kickEvent!.args.returnedStake, kicked.returned)
        assert.equal(kickEvent!.args.forfeited, kicked.forfeited)
      }
      assert.equal(resolved.args.slashed, slashed, 'slashed on a kick')
      const left = payWinners(slashed, true)
      const toFlagger = left < FLAGGER_REWARD ? left : FLAGGER_REWARD
      if (left - toFlagger !== 0n) model.sponsor(now, left - toFlagger)
    } else if (status === FlagStatus.FalseFlag) {
      const { slashed } = model.slash(now, flag.flagger, FLAG_STAKE)
      assert.equal(resolved.args.slashed, slashed, 'slashed on a false flag')
      const left = payWinners(slashed, false)
      if (left !== 0n) model.sponsor(now, left)
    }
  }

  async function timeStep(): Promise<string> {
    // Past maxQueueSeconds now and then, more often while someone waits in a queue (so forceUnstake gets its turn).
    const waiting = operators.some((o) => o.queue.length > 0)
    const seconds = rng.chance(waiting ? 0.2 : 0.02) ? 31 * 86_400 : rng.int(1, 2500)
    await h.increaseTime(seconds)
    // Whoever waited through it may now force an unstake: try it before other actions pay the queue.
    if (seconds > 86_400 && waiting) {
      await checkInvariants('time')
      return forceUnstakeStep()
    }
    return 'time'
  }

  /** Updates the queue mirrors from the Undelegated events: strictly first in, first out. */
  function applyPayouts(receipt: TransactionReceipt): void {
    for (const log of parseEventLogs({ abi: operatorAbi, logs: receipt.logs, eventName: 'Undelegated' })) {
      const operator = operatorByAddress.get(getAddress(log.address))!
      const head = operator.queue[0]
      assert.ok(head !== undefined, 'a payout with an empty queue')
      assert.equal(log.args.delegator, head.delegator, 'paid out of order')
      assert.ok(log.args.shares <= head.shares, 'burned more shares than queued')
      head.shares -= log.args.shares
      if (head.shares === 0n) operator.queue.shift()
    }
  }

  // ---- invariants ----

  /**
   * The vault's assets by the model: tokens held, stakes, and the delegators' part of the uncollected earnings but
   * those of stakes under review (a kick would forfeit them).
   */
  function vaultAssets(operator: OperatorState, tokens: bigint, now: bigint, forNewShares = false): bigint {
    let stake = 0n
    let pending = 0n
    let reviewed = 0n
    for (const [id, model] of models) {
      stake += model.stakeOf(operator.address)
      const underReview = [...flags.values()].some((f) => f.sponsorshipId === id && f.target === operator.address)
      if (underReview) reviewed += model.earningsOf(operator.address, now)
      else pending += model.earningsOf(operator.address, now)
    }
    const assets = tokens + stake + pending - (pending * operator.cutBps) / 10_000n
    // New shares are priced with the earnings under review too (see Operator.previewDeposit).
    return forNewShares ? assets + reviewed - (reviewed * operator.cutBps) / 10_000n : assets
  }

  async function vault(operator: OperatorState): Promise<VaultSnapshot> {
    const [totalAssets, totalShares] = await Promise.all([
      h.read<bigint>(h.operatorCall(operator.address, 'totalAssets')),
      h.read<bigint>(h.operatorCall(operator.address, 'totalSupply')),
    ])
    return { totalAssets, totalShares }
  }

  const lastPrice = new Map<Address, VaultSnapshot>()

  async function checkInvariants(after: string): Promise<void> {
    const now = await h.latestTimestamp()
    const contracts = [
      h.addresses.sponsorships,
      h.addresses.voteKick,
      h.addresses.token,
      ...operators.map((o) => o.address),
    ]
    const accounts = Array.from({ length: ACCOUNTS }, (_, i) => h.actor(i).address)
    const [supply, ...balances] = await Promise.all([
      h.totalSupply(),
      ...[...accounts, ...contracts].map((address) => h.balanceOf(address)),
    ])
    assert.equal(
      balances.reduce((sum, b) => sum + b, 0n),
      supply,
      `tokens not conserved after ${after}`,
    )
    assert.equal(await h.balanceOf(h.addresses.voteKick), 0n, 'the vote-kick contract keeps nothing')

    // Sponsorships: solvent to the wei; what they hold beyond what they owe is rounding dust, and tiny.
    let owed = 0n
    const views = await Promise.all(
      [...models.keys()].map((id) =>
        Promise.all([h.getSponsorship(id), Promise.all(operators.map((o) => h.getStake(id, o.address)))]),
      ),
    )
    for (const [i, [id, model]] of [...models.entries()].entries()) {
      const [view, stakes] = views[i]!
      const expected = model.projected(now)
      assert.equal(view.unallocated, expected.unallocated, `sponsorship ${id} funds after ${after}`)
      assert.equal(view.totalStake, model.totalStake, `sponsorship ${id} total stake`)
      assert.equal(view.operatorCount, model.operatorCount, `sponsorship ${id} operator count`)
      owed += view.unallocated + view.totalStake
      for (const [j, operator] of operators.entries()) {
        const stake = stakes[j]!
        assert.equal(stake.amount, model.stakeOf(operator.address), `stake of ${operator.owner} on ${id}`)
        assert.equal(stake.earnings, model.earningsOf(operator.address, now), `earnings of ${operator.owner} on ${id}`)
        assert.equal(stake.kicked, model.kicked.has(operator.address))
        owed += stake.earnings
      }
    }
    const held = await h.balanceOf(h.addresses.sponsorships)
    const dust = held - owed
    assert.ok(dust >= 0n, `sponsorships owe ${-dust} wei more than they hold after ${after}`)
    // Not monotonic in views: a projection over one long step rounds differently from the same time in two steps.
    assert.ok(dust < 100_000n, `dust ${dust} is not tiny`)
    if (dust > maxDust) maxDust = dust

    let stakedOperators = 0
    // Every share's holder, now and then (it costs a read per actor and operator).
    const countHolders = ++invariantChecks % 10 === 0
    const reads = await Promise.all(
      operators.map((operator) =>
        Promise.all([
          h.read<bigint>(h.sponsorshipsCall('totalStakeOf', [operator.address])),
          h.read<bigint>(h.operatorCall(operator.address, 'queuedShares')),
          h.read<bigint>(h.operatorCall(operator.address, 'queueLength')),
          h.sharesOf(operator.address, operator.address),
          operator.queue.length > 0
            ? h.read<{ delegator: Address; shares: bigint }>(h.operatorCall(operator.address, 'queueEntry', [0n]))
            : undefined,
          vault(operator),
          countHolders
            ? Promise.all([...DELEGATORS, operator.owner].map((i) => h.sharesOf(operator.address, h.actor(i).address)))
            : undefined,
        ]),
      ),
    )
    for (const [k, operator] of operators.entries()) {
      const [totalStake, queuedShares, queueLength, escrow, head, current, holders] = reads[k]!
      const modelStake = [...models.values()].reduce((sum, model) => sum + model.stakeOf(operator.address), 0n)
      assert.equal(totalStake, modelStake, `total stake of operator ${operator.owner}`)
      if (totalStake > 0n) stakedOperators += 1

      // The queue: what the contract holds in escrow is exactly what waits, in the order it was asked.
      assert.equal(queueLength, BigInt(operator.queue.length), `queue length of operator ${operator.owner}`)
      assert.equal(queuedShares, escrow, 'queued shares are held by the operator contract')
      assert.equal(
        queuedShares,
        operator.queue.reduce((sum, entry) => sum + entry.shares, 0n),
        `queued shares of operator ${operator.owner}`,
      )
      if (head !== undefined) {
        assert.equal(head.delegator, operator.queue[0]!.delegator)
        assert.equal(head.shares, operator.queue[0]!.shares)
      }

      // Share price (assets + 1) / (shares + 10^6) never falls but for a slash or an early-leave penalty: whoever
      // leaves takes at most what the shares are worth, and deposits mint at most what they pay for.
      if (holders !== undefined) {
        assert.equal(
          holders.reduce((sum, s) => sum + s, 0n) + escrow,
          current.totalShares,
          'every share has a holder among the actors',
        )
      }
      const tokens = balances[accounts.length + contracts.indexOf(operator.address)]!
      assert.equal(current.totalAssets, vaultAssets(operator, tokens, now), `assets of operator ${operator.owner}`)
      const previous = lastPrice.get(operator.address)
      // A penalty, a slash or a kick lowers the price, and so does a flag (the target's earnings stop counting).
      const mayFall = ['unstake', 'forceUnstake', 'flag', 'vote', 'conclude'].includes(after)
      if (previous !== undefined && !mayFall) {
        // Exact: uncollected earnings only grow with time, and settling them stores what the view showed.
        assert.ok(
          (current.totalAssets + 1n) * (previous.totalShares + VIRTUAL_SHARES) >=
            (previous.totalAssets + 1n) * (current.totalShares + VIRTUAL_SHARES),
          `share price of operator ${operator.owner} fell after ${after}`,
        )
      }
      lastPrice.set(operator.address, current)
    }
    assert.equal(
      await h.read<bigint>(h.sponsorshipsCall('stakedOperatorCount')),
      BigInt(stakedOperators),
      'staked operator list',
    )
  }
})
