// A network on the simulator's virtual time, sized for CI: every node joins
// at the same instant, the overlay must form and deliver everything, and the
// same seed must give the same run. `npm run scale -w @runnel/network` runs the
// same scenario with 2,000 nodes (RUNNEL_SIM_NODES sets the count here too).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeResult, runScenario } from './scenario.js'

const NODE_COUNT = Number(process.env.RUNNEL_SIM_NODES ?? 250)
const SEED = 14

describe(`${NODE_COUNT} nodes joining at once on the simulator's virtual time`, () => {
  it('form (every node 3+ neighbours), deliver every message, and give one hop histogram per seed', async () => {
    const first = await runScenario({ nodes: NODE_COUNT, seed: SEED })
    console.log(describeResult(first).join('\n'))
    assert.ok(first.neighbors.min >= 3, `least neighbours after forming: ${first.neighbors.min}`)
    assert.ok(first.neighborsAfterHold.min >= 3, `least neighbours after 30 s more: ${first.neighborsAfterHold.min}`)
    assert.equal(first.delivery, 1, '100% delivery')
    assert.equal(first.failedHandshakes, 0)
    assert.equal(first.invalidMessages, 0)
    assert.ok(
      first.diameter <= 2 * Math.ceil(Math.log(NODE_COUNT) / Math.log(3)),
      `diameter ${first.diameter} near log(N)`,
    )

    const second = await runScenario({ nodes: NODE_COUNT, seed: SEED })
    assert.deepEqual(second.hops, first.hops, 'same seed, same hop histogram')
    assert.equal(second.formedMs, first.formedMs, 'same seed, same forming time')
    assert.deepEqual(second.simulator, first.simulator, 'same seed, same frames and bytes')
  })
})
