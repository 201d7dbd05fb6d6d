// The attack harness (test/scale/attacks/, `npm run attacks -w @runnel/network`) on a network sized for CI: with
// neighbour scoring and kept slots on, 30% droppers must not keep honest nodes from their messages.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runAttackScenario } from './attacks/attackScenario.js'

describe('60 nodes, 30% of them droppers, mitigations on', () => {
  for (const discovery of ['tracker', 'dht'] as const) {
    it(`${discovery} mode: honest nodes get ≥ 99% of the messages, and droppers are rotated out`, async () => {
      const result = await runAttackScenario({
        nodes: 60,
        seed: 17,
        discovery,
        attack: 'dropper',
        fraction: 0.3,
        mitigations: true,
        warmupMs: 15_000,
        messages: 20,
      })
      console.log(
        `${discovery}: delivery ${(result.delivery * 100).toFixed(2)}%, rotations ${result.rotations}, ` +
          `cut off ${result.cutOff}, wall ${(result.wallMs / 1000).toFixed(1)} s`,
      )
      assert.equal(result.attackers, 18)
      assert.ok(result.delivery >= 0.99, `delivery to honest nodes ${result.delivery}`)
      assert.equal(result.cutOff, 0)
      assert.ok(result.rotations > 0, 'scoring rotated droppers out')
    })
  }
})
