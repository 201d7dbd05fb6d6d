import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { voteKickAbi, type FlagInfo } from '@runnel/chain'
import type { AutoInspection } from '../../src/plugins/operator/AutoFlagger.js'
import { testDiscoveryMode } from '../../../client/test/support/discovery.js'
import {
  accountOf,
  eventually,
  incentivesAs,
  startFreeRiderScenario,
  type FreeRiderScenario,
} from '../support/operators.js'

/**
 * End to end with real daemons on the embedded chain, and nobody flagging by hand: the free-rider scenario with
 * `autoFlag` on every node (a round a second, a confirmation half a second after a first bad window). An honest
 * operator's node finds the free rider relays nothing twice in a row and flags it; the reviewers inspect and vote it
 * out. The honest operators inspect each other too, and neither is flagged.
 */
describe(
  'operator plugin: a free rider is flagged by the honest operators’ nodes themselves',
  // The auto-flagger adds nothing that depends on discovery; the inspections it reuses run in both modes in
  // operatorFreeRider.test.ts.
  { skip: testDiscoveryMode() === 'dht' ? 'runs in the tracker run' : false },
  () => {
    let scenario: FreeRiderScenario

    before(async () => {
      scenario = await startFreeRiderScenario({
        autoFlag: { enabled: true, intervalMs: 1_000, confirmDelayMs: 500, maxFlagsPerHour: 2 },
      })
    })
    after(async () => {
      await scenario?.stop()
    })

    it('flags the free rider after two bad inspections, gets it kicked and slashed, and flags no honest operator', async () => {
      const { network, sponsorshipId, honestA, honestB, freeRider, nodes } = scenario
      const sponsor = incentivesAs(network, 1)
      const delegatorBefore = await incentivesAs(network, 0).getDelegation(freeRider)
      const flags = async (): Promise<FlagInfo[]> => {
        const count = await network.dev.publicClient.readContract({
          address: network.dev.deployment.incentives.voteKick,
          abi: voteKickAbi,
          functionName: 'flagCount',
        })
        return Promise.all(Array.from({ length: Number(count) }, (_, i) => sponsor.getFlag(i + 1)))
      }

      await eventually(
        async () => (await sponsor.getStake(sponsorshipId, freeRider)).kicked,
        60_000,
        'the free rider to be flagged and kicked',
      )
      const [flag, ...others] = await flags()
      assert.ok(flag !== undefined)
      assert.deepEqual(others, [], 'one flag: the honest nodes that saw the free rider too found it flagged')
      assert.equal(flag.target, freeRider)
      assert.equal(flag.sponsorshipId, sponsorshipId)
      assert.equal(flag.status, 'kicked')
      assert.ok([honestA, honestB].includes(flag.flagger), `an honest operator flagged (${flag.flagger})`)
      const delegatorAfter = await incentivesAs(network, 0).getDelegation(freeRider)
      assert.ok(delegatorAfter.value < delegatorBefore.value, 'the slash reaches the free rider’s delegators')

      // The flagger's node: two inspections in a row, both kick, the second flagged with the flag's id.
      const flaggerNode = nodes[flag.flagger === honestA ? 0 : 1]!
      const onFreeRider = flaggerNode.operator!.autoInspections.filter((entry) => entry.target === freeRider)
      const [first, second] = onFreeRider.slice(-2)
      assert.ok(first !== undefined && second !== undefined, 'two inspections of the free rider')
      assert.deepEqual([first.inspection, first.decision, first.evidence.verdict], [1, 'inspect-again', 'kick'])
      assert.deepEqual([second.inspection, second.decision, second.evidence.verdict], [2, 'flag', 'kick'])
      assert.equal(second.flagId, flag.id)
      assert.equal(second.evidence.relayedByTarget[accountOf(network, 7).toLowerCase()], 0)
      assert.ok(second.evidence.messagesSeen >= 5, `the stream part carried traffic (${second.evidence.messagesSeen})`)
      assert.match(
        await flaggerNode.metrics.registry.getSingleMetricAsString('runnel_operator_auto_flags_total'),
        /^runnel_operator_auto_flags_total\{result="sent"\} 1$/m,
      )

      // Each honest operator's node inspects the other honest one on real traffic, finds it relays, and flags nothing.
      for (const [node, peer, peerNode] of [
        [nodes[0]!, honestB, accountOf(network, 5).toLowerCase()],
        [nodes[1]!, honestA, accountOf(network, 3).toLowerCase()],
      ] as const) {
        const onTraffic = (): AutoInspection | undefined =>
          node.operator!.autoInspections.find((e) => e.target === peer && e.evidence.messagesSeen >= 5)
        await eventually(() => onTraffic() !== undefined, 30_000, `${node.address} to inspect ${peer} on traffic`)
        const entry = onTraffic()!
        assert.equal(entry.evidence.verdict, 'keep', entry.evidence.reason)
        assert.equal(entry.decision, 'no-flag')
        assert.ok(entry.evidence.relayedByTarget[peerNode]! > 0, entry.evidence.reason)
        for (const other of node.operator!.autoInspections.filter((e) => e.target === peer)) {
          assert.notEqual(other.decision, 'flag', other.evidence.reason)
        }
      }
      const all = await flags()
      assert.deepEqual(
        all.map((f) => f.target),
        [freeRider],
        'every flag raised in the test targets the free rider',
      )
      for (const operator of [honestA, honestB]) {
        const stake = await sponsor.getStake(sponsorshipId, operator)
        assert.equal(stake.kicked, false)
        assert.equal(stake.underReview, false)
      }
    })
  },
)
