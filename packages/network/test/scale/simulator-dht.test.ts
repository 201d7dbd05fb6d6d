// Trackerless at scale on the simulator's virtual time: nodes find each other through the DHT alone (three entry
// points, no tracker), all starting at the same instant while node 0 publishes every 100 ms. Every node must reach
// 3 neighbours and get every message published once the overlay has formed. Time to first message and propagation
// are printed, never asserted (docs/benchmarks.md has them).
//
// 250 nodes by default, as the tracker-mode test: that costs ~22 s of CPU, several times the tracker mode's, and
// 2,000 nodes cost minutes (docs/benchmarks.md, issue 15), so the full size is a run of its own:
// RUNNEL_SIM_DHT_NODES=2000 here, or `npm run scale -w @runnel/network -- --discovery dht`.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { describeResult, runScenario } from './scenario.js'

const NODE_COUNT = Number(process.env.RUNNEL_SIM_DHT_NODES ?? 250)
const SEED = 14

describe(`${NODE_COUNT} trackerless nodes on the simulator's virtual time`, () => {
  it('form through the DHT (every node 3+ neighbours) and deliver every message to every node', async () => {
    const wallStart = performance.now()
    const result = await runScenario({ nodes: NODE_COUNT, seed: SEED, discovery: 'dht', holdMs: 5_000 })
    console.log(describeResult(result).join('\n'))
    console.log(`wall time of the whole test: ${((performance.now() - wallStart) / 1000).toFixed(1)} s`)
    assert.equal(result.failedStarts, 0, 'every node started and joined')
    assert.ok(result.neighbors.min >= 3, `least neighbours after forming: ${result.neighbors.min}`)
    assert.ok(result.neighborsAfterHold.min >= 3, `least neighbours 5 s later: ${result.neighborsAfterHold.min}`)
    assert.equal(result.delivery, 1, '100% delivery')
    assert.equal(result.missedAfterFirst, 0, 'no node missed a message after its first')
    assert.equal(result.invalidMessages, 0)
  })
})
