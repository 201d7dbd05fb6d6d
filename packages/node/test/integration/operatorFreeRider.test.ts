import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Address } from 'viem'
import type { RunnelNode } from '../../src/index.js'
import type { TestNetwork } from '../helpers.js'
import {
  accountOf,
  eventually,
  incentivesAs,
  startFreeRiderScenario,
  type FreeRiderScenario,
} from '../support/operators.js'

/**
 * End to end with real daemons on the embedded chain: two honest operators and a free rider (its node joins the
 * stream part and relays nothing: network.dropRelayedMessages) on one sponsorship, and an outsider operator staked
 * elsewhere. The free rider is flagged through the bindings; the reviewers' nodes inspect it and vote it out on the
 * evidence; a false flag on an honest operator is voted down on the same kind of evidence.
 */
describe('operator plugin: a free rider is flagged, inspected, kicked and slashed', () => {
  let scenario: FreeRiderScenario
  let network: TestNetwork
  let sponsorshipId: number
  let honestA: Address
  let honestB: Address
  let freeRider: Address
  let outsider: Address
  let nodes: readonly RunnelNode[]

  before(async () => {
    scenario = await startFreeRiderScenario()
    ;({ network, sponsorshipId, honestA, honestB, freeRider, outsider, nodes } = scenario)
  })
  after(async () => {
    await scenario?.stop()
  })

  it('the reviewers find the free rider relays nothing and vote it out; its delegators lose; the honest keep earning', async () => {
    const sponsor = incentivesAs(network, 1)
    const delegatorBefore = await incentivesAs(network, 0).getDelegation(freeRider)
    const flagId = await incentivesAs(network, 2).flag(honestA, sponsorshipId, freeRider, '{"relayed":0}')
    const flag = await sponsor.getFlag(flagId)
    assert.deepEqual([...flag.reviewers].sort(), [honestB, outsider].sort(), 'the others staked anywhere review')

    await eventually(async () => (await sponsor.getFlag(flagId)).status !== 'open', 60_000, 'the reviewers’ votes')
    assert.equal((await sponsor.getFlag(flagId)).status, 'kicked')
    const kicked = await sponsor.getStake(sponsorshipId, freeRider)
    assert.equal(kicked.kicked, true)
    assert.equal(kicked.amount, 0n)
    const delegatorAfter = await incentivesAs(network, 0).getDelegation(freeRider)
    assert.equal(delegatorAfter.shares, delegatorBefore.shares)
    assert.ok(delegatorAfter.value < delegatorBefore.value, 'the slash reaches the free rider’s delegators')

    // The evidence each reviewer node gathered: traffic on the stream part, nothing from the free rider's node.
    const freeRiderNode = accountOf(network, 7).toLowerCase()
    for (const reviewer of [nodes[1]!, nodes[3]!]) {
      const evidence = reviewer.operator!.evidence.at(-1)
      assert.ok(evidence !== undefined, `${reviewer.address} inspected`)
      assert.equal(evidence.verdict, 'kick')
      assert.equal(evidence.relayedByTarget[freeRiderNode], 0)
      assert.ok(evidence.messagesSeen >= 5, `the stream part carried traffic (${evidence.messagesSeen})`)
      assert.ok(
        Object.values(evidence.relayedByOthers).some((frames) => frames > 0),
        'honest nodes relayed to it',
      )
      // The vote is on chain (the flag resolved on it) before the reviewer's own wait for its receipt returns.
      const kickVotes = /^runnel_operator_votes_total\{vote="kick"\} 1$/m
      await eventually(
        async () =>
          kickVotes.test(await reviewer.metrics.registry.getSingleMetricAsString('runnel_operator_votes_total')),
        30_000,
        `${reviewer.address} to count its kick vote`,
      )
    }

    // The honest operators keep earning after the kick (their nodes collect past the 1 RNL threshold).
    const worth = async (operator: Address): Promise<bigint> => {
      const info = await sponsor.getOperator(operator)
      return info.totalAssets + info.stakes.reduce((sum, stake) => sum + stake.earnings, 0n)
    }
    for (const operator of [honestA, honestB]) {
      const atKick = await worth(operator)
      await eventually(async () => (await worth(operator)) > atKick, 30_000, `${operator} to earn after the kick`)
      assert.equal((await sponsor.getStake(sponsorshipId, operator)).kicked, false)
    }
  })

  it('a false flag on an honest operator is voted down on the evidence that its node relays', async () => {
    const sponsor = incentivesAs(network, 1)
    const flagId = await incentivesAs(network, 4).flag(honestB, sponsorshipId, honestA, '{}')
    assert.deepEqual((await sponsor.getFlag(flagId)).reviewers, [outsider])
    await eventually(async () => (await sponsor.getFlag(flagId)).status !== 'open', 60_000, 'the outsider’s vote')
    assert.equal((await sponsor.getFlag(flagId)).status, 'false-flag')
    const evidence = nodes[3]!.operator!.evidence.at(-1)!
    assert.equal(evidence.verdict, 'keep')
    assert.ok(
      evidence.relayedByTarget[accountOf(network, 3).toLowerCase()]! > 0,
      'the honest node relayed to the probe',
    )
    assert.equal((await sponsor.getStake(sponsorshipId, honestA)).kicked, false)
  })
})
