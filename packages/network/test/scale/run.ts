// The scale run: `npm run scale -w @runnel/network`. 2,000 nodes on the simulator's virtual time join one stream part
// while node 0 publishes every 100 ms; prints how the overlay formed and delivered, time to first message, propagation
// against the shortest-path bound, simulated against wall time. Runs the same seed twice to show the hop histograms are
// identical. Exits 1 if anything fails.
//
//   npm run scale -w @runnel/network                                    # tracker mode, all nodes starting at once, twice
//   npm run scale -w @runnel/network -- --discovery dht                 # trackerless
//   npm run scale -w @runnel/network -- --discovery both --spread 10000 # both modes, nodes starting over 10 s, once each
//
// Options: --discovery tracker|dht|both, --nodes N (or RUNNEL_SIM_NODES), --seed S (or RUNNEL_SIM_SEED),
// --spread MS (nodes start over this much virtual time; 0 = all at once), --runs R (default 2 for one mode, 1 for both),
// --regions (nodes tell their region, so the tracker gives each a pair of nearby neighbours),
// --max-connections N (a dht node's connection cap), --heap-snapshot FILE (writes a V8 heap snapshot while the whole network is live, to see where its memory goes),
// --heap-snapshot-after-hold FILE (the same after the hold, the network at rest).
// --scenario restart: the tracker (dht: every entry point) goes down and comes back (restartScenario.ts); --no-jitter
// dials in lockstep, --no-known-peers restarts the entry points knowing no one. --scenario streams: many stream parts.
import { parseArgs } from 'node:util'
import { writeHeapSnapshot } from 'node:v8'
import { describeRestart, runRestartScenario } from './restartScenario.js'
import { describeResult, runScenario, type ScenarioResult } from './scenario.js'
import { describeStreams, runStreamsScenario } from './streamsScenario.js'

const { values } = parseArgs({
  options: {
    discovery: { type: 'string', default: 'tracker' },
    nodes: { type: 'string', default: process.env.RUNNEL_SIM_NODES ?? '2000' },
    seed: { type: 'string', default: process.env.RUNNEL_SIM_SEED ?? '14' },
    spread: { type: 'string', default: '0' },
    runs: { type: 'string' },
    progress: { type: 'boolean', default: false },
    scenario: { type: 'string', default: 'overlay' },
    'no-jitter': { type: 'boolean', default: false },
    'no-known-peers': { type: 'boolean', default: false },
    streams: { type: 'string', default: '1000' },
    regions: { type: 'boolean', default: false },
    'heap-snapshot': { type: 'string' },
    'heap-snapshot-after-hold': { type: 'string' },
    'max-connections': { type: 'string' },
  },
})
const modes =
  values.discovery === 'both' ? (['tracker', 'dht'] as const) : ([values.discovery] as ('tracker' | 'dht')[])
if (!modes.every((mode) => mode === 'tracker' || mode === 'dht')) {
  console.error(`--discovery must be tracker, dht or both, got ${values.discovery}`)
  process.exit(2)
}
const nodes = Number(values.nodes)
const seed = Number(values.seed)
const joinSpreadMs = Number(values.spread)
const runCount = Number(values.runs ?? (modes.length === 1 ? 2 : 1))

if (values.scenario === 'restart' || values.scenario === 'streams') {
  let failed = false
  for (const discovery of modes) {
    console.log(`${values.scenario}, ${discovery}: seed ${seed}`)
    try {
      if (values.scenario === 'restart') {
        const result = await runRestartScenario({
          nodes,
          seed,
          discovery,
          jitter: !values['no-jitter'],
          knownPeers: !values['no-known-peers'],
        })
        for (const line of describeRestart(result)) console.log(`  ${line}`)
        failed ||= result.reformedMs === undefined || result.deliversAgainMs === undefined
      } else {
        const result = await runStreamsScenario({ nodes, seed, discovery, streamParts: Number(values.streams) })
        for (const line of describeStreams(result)) console.log(`  ${line}`)
        failed ||= result.delivery < 1
      }
    } catch (err) {
      console.log(`  FAILED: ${err instanceof Error ? err.message : String(err)}`)
      failed = true
    }
  }
  process.exit(failed ? 1 : 0)
} else if (values.scenario !== 'overlay') {
  console.error(`--scenario must be overlay, restart or streams, got ${values.scenario}`)
  process.exit(2)
}

let ok = true
for (const discovery of modes) {
  const runs: ScenarioResult[] = []
  for (let run = 1; run <= runCount; run++) {
    console.log(`${discovery}: run ${run} of ${runCount}, seed ${seed}`)
    try {
      const result = await runScenario({
        nodes,
        seed,
        discovery,
        joinSpreadMs,
        regions: values.regions,
        maxConnections: values['max-connections'] === undefined ? undefined : Number(values['max-connections']),
        onLive: values['heap-snapshot'] === undefined ? undefined : () => writeHeapSnapshot(values['heap-snapshot']),
        onSettled:
          values['heap-snapshot-after-hold'] === undefined
            ? undefined
            : () => writeHeapSnapshot(values['heap-snapshot-after-hold']),
        progress: values.progress ? (line) => console.log(`  … ${line}`) : undefined,
      })
      for (const line of describeResult(result)) console.log(`  ${line}`)
      runs.push(result)
    } catch (err) {
      console.log(`  FAILED: ${err instanceof Error ? err.message : String(err)}`)
      ok = false
    }
  }
  const formed = runs.every((result) => result.neighbors.min >= 3 && result.neighborsAfterHold.min >= 3)
  const delivered = runs.every((result) => result.delivery === 1)
  if (runs.length >= 2) {
    const sameHops = runs.every((result) => JSON.stringify([...result.hops]) === JSON.stringify([...runs[0]!.hops]))
    console.log(`${discovery}: same seed, same hop histogram: ${sameHops ? 'yes' : 'NO'}`)
    ok &&= sameHops
  }
  if (runs.length === 0) continue
  console.log(
    `${discovery}: every node 3+ neighbours: ${formed ? 'yes' : 'NO'}; 100% delivery: ${delivered ? 'yes' : 'NO'}`,
  )
  ok &&= formed && delivered
}
if (!ok) process.exitCode = 1
