import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { parseEventLogs, type Address, type Hex } from 'viem'
import { operatorAbi, operatorFactoryAbi } from '../../src/index.js'
import { expectRevert, IncentivesHarness, RNL } from '../incentivesHarness.js'
import { sharesForDeposit } from '../incentivesModel.js'

const SPONSOR = 1
const OWNER = 2
const NODE = 3
const ALICE = 4
const BOB = 5
const ATTACKER = 6
const STRANGER = 9
const MAX_QUEUE_SECONDS = 30 * 86_400

describe('Operator vaults on the embedded chain', () => {
  let h: IncentivesHarness
  let snapshot: Hex
  let operator: Address
  let sponsorshipId: bigint

  before(async () => {
    h = await IncentivesHarness.start()
    sponsorshipId = await h.createSponsorship(SPONSOR, await h.createStream(SPONSOR, '/operated'), {
      ratePerSecond: 10n ** 15n,
    })
    await h.sponsor(SPONSOR, sponsorshipId, RNL(10_000))
    operator = await h.createOperator(OWNER, 2000)
    snapshot = await h.snapshot()
  })

  afterEach(async () => {
    await h.revert(snapshot)
    snapshot = await h.snapshot()
  })

  after(() => h.stop())

  const call = (functionName: string, args: readonly unknown[] = []) => h.operatorCall(operator, functionName, args)
  const address = (index: number): Address => h.actor(index).address
  const totals = async (): Promise<{ assets: bigint; shares: bigint }> => ({
    assets: await h.read<bigint>(call('totalAssets')),
    shares: await h.read<bigint>(call('totalSupply')),
  })

  it('takes delegations both ways (transferAndCall, approve + deposit) at the price before the tokens arrive', async () => {
    await h.delegate(OWNER, operator, RNL(1000))
    const before = await totals()
    const receipt = await h.delegate(ALICE, operator, RNL(30) + 7n)
    const [deposit] = parseEventLogs({ abi: operatorAbi, logs: receipt.logs, eventName: 'Deposit' })
    assert.equal(deposit!.args.shares, sharesForDeposit(RNL(30) + 7n, before.assets, before.shares))
    await h.approve(BOB, operator, RNL(20))
    const mid = await totals()
    await h.send(BOB, call('deposit', [RNL(20), address(BOB)]))
    assert.equal(await h.sharesOf(operator, address(BOB)), sharesForDeposit(RNL(20), mid.assets, mid.shares))
    const aliceValue = await h.valueOf(operator, address(ALICE))
    assert.ok(aliceValue <= RNL(30) + 7n && aliceValue + 1n >= RNL(30) + 7n, `worth ${aliceValue}: at most a wei lost`)
    await expectRevert(h.delegate(ALICE, operator, 0n), 'ZeroAmount', [])
    // Exits only through the queue.
    assert.equal(await h.read(call('maxWithdraw', [address(ALICE)])), 0n)
    await expectRevert(
      h.send(ALICE, call('withdraw', [1n, address(ALICE), address(ALICE)])),
      'ERC4626ExceededMaxWithdraw',
      [address(ALICE), 1n, 0n],
    )
    await expectRevert(
      h.send(ALICE, call('redeem', [1n, address(ALICE), address(ALICE)])),
      'ERC4626ExceededMaxRedeem',
      [address(ALICE), 1n, 0n],
    )
    await expectRevert(
      h.send(STRANGER, call('onTransferReceived', [address(STRANGER), address(STRANGER), 1n, '0x'])),
      'OnlyToken',
      [address(STRANGER)],
    )
  })

  it('defeats the first-depositor share-inflation attack: a victim after a huge donation keeps ~all its value', async () => {
    // A donation to the empty vault: the owner depositing afterwards keeps its value.
    await h.transfer(ATTACKER, operator, RNL(100_000))
    await h.delegate(OWNER, operator, RNL(1000))
    const ownerValue = await h.valueOf(operator, address(OWNER))
    assert.ok(ownerValue * 10_000n >= RNL(1000) * 9_990n, `owner kept ${ownerValue}`)

    // The malicious-owner variant: 1 wei of shares, then a donation, then a delegator.
    await h.revert(snapshot)
    snapshot = await h.snapshot()
    const other = await h.createOperator(ATTACKER)
    await h.delegate(ATTACKER, other, 1n)
    await h.transfer(ATTACKER, other, RNL(100_000))
    await h.delegate(ALICE, other, RNL(1000))
    const victim = await h.valueOf(other, address(ALICE))
    assert.ok(victim * 10_000n >= RNL(1000) * 9_990n, `victim kept ${victim} of ${RNL(1000)}`)
    // And the attacker can't take the victim's tokens: it gets back less than it put in.
    const attackerValue = await h.valueOf(other, address(ATTACKER))
    assert.ok(attackerValue < RNL(100_000), `attacker's value ${attackerValue}`)
  })

  it("keeps the owner's share at least minSelfDelegation while others hold shares", async () => {
    await h.delegate(OWNER, operator, RNL(1000))
    // 1000 of 21000 is 4.76%, under 5%.
    const before = await totals()
    const aliceShares = sharesForDeposit(RNL(20_000), before.assets, before.shares)
    await expectRevert(h.delegate(ALICE, operator, RNL(20_000)), 'SelfDelegationTooLow', [
      before.shares,
      before.shares + aliceShares,
      500,
    ])
    await h.delegate(ALICE, operator, RNL(19_000))
    const ownerShares = await h.sharesOf(operator, address(OWNER))
    await expectRevert(h.send(OWNER, call('undelegate', [ownerShares / 2n])), 'SelfDelegationTooLow')
    // Giving shares away is no way around it; others pass shares on freely, also to the owner.
    await expectRevert(h.send(OWNER, call('transfer', [address(BOB), ownerShares / 2n])), 'SelfDelegationTooLow')
    await h.send(ALICE, call('transfer', [address(BOB), 2n]))
    await h.send(BOB, call('transfer', [address(OWNER), 1n]))
    // Alone again, the owner may leave entirely.
    await h.send(BOB, call('undelegate', [1n]))
    await h.send(ALICE, call('undelegate', [await h.sharesOf(operator, address(ALICE))]))
    await h.send(OWNER, call('undelegate', [ownerShares + 1n]))
    assert.equal((await totals()).shares, 0n)
  })

  it('lets the owner lower its cut any time but raise it only while staked nowhere', async () => {
    await h.delegate(OWNER, operator, RNL(1000))
    await h.stake(OWNER, operator, sponsorshipId, RNL(1000))
    await expectRevert(h.send(OWNER, call('setCut', [2001])), 'CutRaisedWhileStaked', [2000, 2001])
    await h.send(OWNER, call('setCut', [1000]))
    assert.equal(await h.read(call('cutBps')), 1000)
    await h.send(OWNER, call('unstake', [sponsorshipId]))
    await h.send(OWNER, call('setCut', [3000]))
    assert.equal(await h.read(call('cutBps')), 3000)
  })

  it('pays the owner its cut of collected earnings as tokens; the rest raises the share value', async () => {
    await h.delegate(OWNER, operator, RNL(2000))
    await h.delegate(ALICE, operator, RNL(2000))
    await h.stake(OWNER, operator, sponsorshipId, RNL(4000))
    const aliceValue = await h.valueOf(operator, address(ALICE))
    await h.increaseTime(1000)
    // Uncollected earnings already count (less the owner's cut): a delegation made now buys them at their price.
    const aliceBeforeCollection = await h.valueOf(operator, address(ALICE))
    assert.ok(aliceBeforeCollection > aliceValue, 'uncollected earnings raise the share value')
    await h.delegate(BOB, operator, RNL(200))
    const bobValue = await h.valueOf(operator, address(BOB))
    const ownerTokens = await h.balanceOf(address(OWNER))
    const receipt = await h.send(OWNER, call('withdrawEarnings', [[sponsorshipId]]))
    const [collected] = parseEventLogs({ abi: operatorAbi, logs: receipt.logs, eventName: 'EarningsCollected' })
    const { earnings, ownerCut } = collected!.args
    assert.equal(ownerCut, (earnings * 2000n) / 10_000n)
    assert.equal(await h.balanceOf(address(OWNER)), ownerTokens + ownerCut)
    // Bob, in for the last second or two, gains at most those seconds' share, not a share of the 1000 before.
    const bobGain = (await h.valueOf(operator, address(BOB))) - bobValue
    assert.ok(bobGain < earnings / 100n, `bob gained ${bobGain} of ${earnings} collected`)
    const gain = (await h.valueOf(operator, address(ALICE))) - aliceValue
    const expectedGain = ((earnings - ownerCut) * RNL(2000)) / RNL(4200)
    // Alice held 2000 of 4000 shares for the first 1000+ s and 2000 of 4200 for the last seconds.
    assert.ok(gain <= (earnings - ownerCut) / 2n && gain >= expectedGain, `alice gained ${gain}`)
  })

  // Regression: the vault used to count earnings only once collected, so delegating just before a collection and
  // undelegating just after took the delegators' earnings of days (90% of 10 days' earnings, in two blocks).
  it('gives a delegation made just before an earnings collection none of the earnings made before it', async () => {
    await h.delegate(OWNER, operator, RNL(10_000))
    await h.delegate(ALICE, operator, RNL(10_000))
    await h.stake(OWNER, operator, sponsorshipId, RNL(20_000))
    await h.increaseTime(10 * 86_400)
    const aliceValue = await h.valueOf(operator, address(ALICE))
    const attackerTokens = await h.balanceOf(address(ATTACKER))
    await h.delegate(ATTACKER, operator, RNL(180_000))
    await h.send(OWNER, call('withdrawEarnings', [[sponsorshipId]]))
    await h.send(ATTACKER, call('undelegate', [await h.sharesOf(operator, address(ATTACKER))]))
    const profit = (await h.balanceOf(address(ATTACKER))) - attackerTokens
    // The attacker's shares were there for two blocks' earnings at most: 2 s × 10^15 wei/s.
    assert.ok(profit < 2n * 10n ** 15n, `the sandwich paid ${profit}`)
    assert.ok((await h.valueOf(operator, address(ALICE))) >= aliceValue, "the delegator's value didn't fall")
  })

  it('pays undelegations at once from free tokens, else queues them and pays first in, first out as tokens come free', async () => {
    await h.delegate(OWNER, operator, RNL(1000))
    await h.delegate(ALICE, operator, RNL(1000))
    await h.delegate(BOB, operator, RNL(1000))
    // Free tokens: paid in the same transaction.
    const aliceTokens = await h.balanceOf(address(ALICE))
    const aliceShares = await h.sharesOf(operator, address(ALICE))
    await h.send(ALICE, call('undelegate', [aliceShares / 4n]))
    assert.ok((await h.balanceOf(address(ALICE))) - aliceTokens >= RNL(250) - 1n)
    assert.equal(await h.read(call('queueLength')), 0n)

    // All staked but 50: Alice then Bob queue; a part payment goes to Alice first.
    await h.stake(OWNER, operator, sponsorshipId, (await h.balanceOf(operator)) - RNL(50))
    const aliceBefore = await h.balanceOf(address(ALICE))
    await h.send(ALICE, call('undelegate', [await h.sharesOf(operator, address(ALICE))]))
    await h.send(BOB, call('undelegate', [await h.sharesOf(operator, address(BOB))]))
    assert.equal(await h.balanceOf(operator), 0n, 'the free 50 went to the head of the queue')
    assert.ok((await h.balanceOf(address(ALICE))) - aliceBefore >= RNL(50) - 1n)
    assert.equal(await h.read(call('queueLength')), 2n)
    const head = await h.read<{ delegator: Address; shares: bigint }>(call('queueEntry', [0n]))
    assert.equal(head.delegator, address(ALICE))
    await expectRevert(h.stake(OWNER, operator, sponsorshipId, 1n), 'UndelegationQueueNotEmpty', [2n])

    // Unstaking frees the tokens; the queue is paid in order within the same transaction.
    await h.increaseTime(100)
    const receipt = await h.send(OWNER, call('unstake', [sponsorshipId]))
    const paid = parseEventLogs({ abi: operatorAbi, logs: receipt.logs, eventName: 'Undelegated' })
    assert.deepEqual(
      paid.map((log) => log.args.delegator),
      [address(ALICE), address(BOB)],
    )
    assert.equal(await h.read(call('queueLength')), 0n)
    assert.equal(await h.read(call('queuedShares')), 0n)
    assert.equal(await h.sharesOf(operator, operator), 0n)
    await expectRevert(h.send(ALICE, call('undelegate', [1n])), 'InsufficientShares', [0n, 1n])
    await expectRevert(h.send(ALICE, call('undelegate', [0n])), 'ZeroAmount', [])
  })

  it('lets anyone force an unstake once the oldest undelegation waited longer than maxQueueSeconds', async () => {
    await h.delegate(OWNER, operator, RNL(1000))
    await h.delegate(ALICE, operator, RNL(1000))
    await h.stake(OWNER, operator, sponsorshipId, RNL(2000))
    await expectRevert(h.send(STRANGER, call('forceUnstake', [sponsorshipId])), 'QueueNotOverdue', [])
    await h.send(ALICE, call('undelegate', [await h.sharesOf(operator, address(ALICE))]))
    await h.increaseTime(MAX_QUEUE_SECONDS - 100)
    await expectRevert(h.send(STRANGER, call('forceUnstake', [sponsorshipId])), 'QueueNotOverdue', [])
    await h.increaseTime(200)
    const before = await h.balanceOf(address(ALICE))
    await h.send(STRANGER, call('forceUnstake', [sponsorshipId]))
    assert.equal((await h.getStake(sponsorshipId, operator)).amount, 0n)
    assert.ok((await h.balanceOf(address(ALICE))) - before > RNL(1000), 'paid with its share of the earnings')
    assert.equal(await h.read(call('queueLength')), 0n)
  })

  it('guards owner-only and node functions, and bounds nodes, cut and heartbeats', async () => {
    const stranger = address(STRANGER)
    for (const [functionName, args] of [
      ['stake', [sponsorshipId, RNL(1000)]],
      ['unstake', [sponsorshipId]],
      ['setCut', [100]],
      ['setNodes', [[stranger]]],
    ] as const) {
      await expectRevert(h.send(STRANGER, call(functionName, args)), 'NotOwner', [stranger])
    }
    for (const [functionName, args] of [
      ['withdrawEarnings', [[sponsorshipId]]],
      ['flag', [sponsorshipId, stranger, '{}']],
      ['vote', [1n, true]],
    ] as const) {
      await expectRevert(h.send(STRANGER, call(functionName, args)), 'NotOwnerOrNode', [stranger])
    }
    await expectRevert(h.send(OWNER, call('heartbeat', ['{}'])), 'NotNode', [address(OWNER)])
    await expectRevert(h.send(OWNER, call('setCut', [10_001])), 'InvalidCut', [10_001n])
    const seventeen = Array.from({ length: 17 }, (_, i) => h.actor(i % 10).address)
    await expectRevert(h.send(OWNER, call('setNodes', [seventeen])), 'TooManyNodes', [17n, 16n])
    await expectRevert(h.send(OWNER, call('initialize', [address(OWNER), 0, ''])), 'AlreadyInitialized', [])
    const existing = operator
    await expectRevert(
      h.send(OWNER, {
        address: h.addresses.operatorFactory,
        abi: operatorFactoryAbi,
        functionName: 'createOperator',
        args: [0, ''],
      }),
      'OperatorExists',
      [address(OWNER), existing],
    )

    await h.send(OWNER, call('setNodes', [[address(NODE)]]))
    assert.deepEqual(await h.read(call('nodes')), [address(NODE)])
    const beat = await h.send(NODE, call('heartbeat', ['{"ws":"wss://node.example:443"}']))
    assert.equal(await h.read(call('lastHeartbeat', [address(NODE)])), await h.blockTimestamp(beat))
    await h.send(NODE, call('heartbeat', ['x'.repeat(1000)]))
    await expectRevert(h.send(NODE, call('heartbeat', ['x'.repeat(1001)])), 'HeartbeatTooLarge', [1001n, 1000n])
    // The node may collect earnings but not stake; replaced nodes lose their rights.
    await h.delegate(OWNER, operator, RNL(1000))
    await h.stake(OWNER, operator, sponsorshipId, RNL(1000))
    await h.send(NODE, call('withdrawEarnings', [[sponsorshipId]]))
    await expectRevert(h.send(NODE, call('stake', [sponsorshipId, 1n])), 'NotOwner', [address(NODE)])
    await h.send(OWNER, call('setNodes', [[]]))
    await expectRevert(h.send(NODE, call('heartbeat', ['{}'])), 'NotNode', [address(NODE)])
  })
})
