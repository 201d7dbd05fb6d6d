// The scale run: `npm run scale -w @runnel/network`. 2,000 nodes (RUNNEL_SIM_NODES) join one stream part at the same
// virtual instant on the simulator; prints how the overlay formed and delivered, simulated against wall time, and
// runs the same seed (RUNNEL_SIM_SEED) twice to show the hop histograms are identical. Exits 1 if anything fails.
import { describeResult, runScenario, type ScenarioResult } from './scenario.js'

const nodes = Number(process.env.RUNNEL_SIM_NODES ?? 2_000)
const seed = Number(process.env.RUNNEL_SIM_SEED ?? 14)

const runs: ScenarioResult[] = []
for (const run of [1, 2]) {
  console.log(`run ${run} of 2, seed ${seed}`)
  const result = await runScenario({ nodes, seed })
  for (const line of describeResult(result)) console.log(`  ${line}`)
  runs.push(result)
}
const [first, second] = runs as [ScenarioResult, ScenarioResult]
const sameHops = JSON.stringify([...first.hops]) === JSON.stringify([...second.hops])
const formed = runs.every((result) => result.neighbors.min >= 3 && result.neighborsAfterHold.min >= 3)
const delivered = runs.every((result) => result.delivery === 1)
console.log(`same seed, same hop histogram: ${sameHops ? 'yes' : 'NO'}`)
console.log(`every node 3+ neighbours: ${formed ? 'yes' : 'NO'}; 100% delivery: ${delivered ? 'yes' : 'NO'}`)
if (!sameHops || !formed || !delivered) process.exitCode = 1
