// Trackerless at scale on the simulator's virtual time: nodes find each other through the DHT alone (three entry
// points, no tracker) while node 0 publishes every 100 ms. Every node must reach 3 neighbours and get every message
// published once the overlay has formed, and miss none after its first. Time to first message and propagation are
// printed, never asserted (docs/benchmarks.md has them).
//
// Two runs: 2,000 nodes joining over 20 s (100 a second, into a live stream part: the must-show), and 250
// starting at the same instant (a cold start, where no node holds an entry-point record yet). The first costs
// ~4 min of wall time here; RUNNEL_SIM_DHT_NODES sets its size. `npm run scale -w @runnel/network -- --discovery dht`
// runs the same scenarios with more options.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { describeResult, runScenario, type ScenarioOptions } from './scenario.js'

const NODE_COUNT = Number(process.env.RUNNEL_SIM_DHT_NODES ?? 2_000)
const SEED = 14

async function formsAndDelivers(options: Omit<ScenarioOptions, 'seed' | 'discovery'>): Promise<void> {
  const wallStart = performance.now()
  const result = await runScenario({ seed: SEED, discovery: 'dht', holdMs: 5_000, ...options })
  console.log(describeResult(result).join('\n'))
  console.log(`wall time of the whole test: ${((performance.now() - wallStart) / 1000).toFixed(1)} s`)
  assert.equal(result.failedStarts, 0, 'every node started and joined')
  assert.ok(result.neighbors.min >= 3, `least neighbours after forming: ${result.neighbors.min}`)
  assert.ok(result.neighborsAfterHold.min >= 3, `least neighbours 5 s later: ${result.neighborsAfterHold.min}`)
  assert.equal(result.delivery, 1, '100% delivery')
  assert.equal(result.missedAfterFirst, 0, 'no node missed a message after its first')
  assert.equal(result.invalidMessages, 0)
}

describe("trackerless nodes on the simulator's virtual time", () => {
  it(`${NODE_COUNT} joining over 20 s form through the DHT (every node 3+ neighbours) and get every message`, () =>
    formsAndDelivers({ nodes: NODE_COUNT, joinSpreadMs: 20_000 }))

  it('250 starting at once find each other before any holds a record, and get every message', () =>
    formsAndDelivers({ nodes: 250 }))
})
