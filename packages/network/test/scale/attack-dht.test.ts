// DHT poisoners and Sybils on a small simulated network (test/scale/attacks/dhtAttacks.ts), with the mitigations
// on: honest lookups still find honest nodes, and a tracker admits at most its per-subnet quota of Sybils to a
// stream part. The full matrix (both modes, 10/30/50%, mitigations off and on) is `npm run attacks:dht -w
// @runnel/network`; its figures are in docs/security.md ("DHT poisoning and Sybil attacks").
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runDhtAttack } from './attacks/dhtAttacks.js'

describe('DHT attackers on the simulator, mitigations on', () => {
  it('with 30% poisoners (not grinding their ids), honest lookups find honest entry points and the closest honest node', async () => {
    const result = await runDhtAttack({
      nodes: 60,
      seed: 5,
      discovery: 'dht',
      kind: 'poison',
      fraction: 0.3,
      mitigated: true,
      grind: 1,
      messages: 5,
      lookups: 30,
    })
    assert.equal(result.attackers, 18)
    assert.ok(
      result.entryPointLookups! >= 0.95,
      `entry-point lookups finding an honest one: ${result.entryPointLookups}`,
    )
    assert.ok(result.closestLookups! >= 0.95, `lookups finding the closest honest node: ${result.closestLookups}`)
    assert.ok(result.delivery >= 0.99, `delivery to honest nodes: ${result.delivery}`)
  })

  it('with 30% Sybils from one /24 grinding their ids onto the stream part key, honest lookups still succeed', async () => {
    const result = await runDhtAttack({
      nodes: 60,
      seed: 6,
      discovery: 'dht',
      kind: 'sybil',
      fraction: 0.3,
      mitigated: true,
      messages: 5,
      lookups: 30,
    })
    assert.ok(
      result.entryPointLookups! >= 0.95,
      `entry-point lookups finding an honest one: ${result.entryPointLookups}`,
    )
    assert.ok(result.closestLookups! >= 0.95, `lookups finding the closest honest node: ${result.closestLookups}`)
  })

  it('a tracker admits at most maxMembersPerSubnet (8) Sybils from one /24 to a stream part, all of them without it', async () => {
    const run = (mitigated: boolean) =>
      runDhtAttack({ nodes: 40, seed: 7, discovery: 'tracker', kind: 'sybil', fraction: 0.5, mitigated, messages: 5 })
    const [off, on] = [await run(false), await run(true)]
    assert.equal(off.attackers, 20)
    assert.equal(off.attackerMembers, 20)
    assert.equal(off.trackerSubnetCapped, 0)
    assert.equal(on.attackerMembers, 8)
    assert.ok(on.trackerSubnetCapped! > 0, 'the tracker ignored the reports of Sybils past the quota')
    assert.ok(
      on.attackerNeighborShare < off.attackerNeighborShare,
      `Sybil share of honest neighbours: ${on.attackerNeighborShare} with the cap, ${off.attackerNeighborShare} without`,
    )
    assert.equal(on.delivery, 1)
  })
})
