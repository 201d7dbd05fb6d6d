// Trackerless at scale on the simulator's virtual time: 300 nodes find each other through the DHT alone (three
// entry points, no tracker), joining over 20 s (15 a second) into a live stream part while node 0 publishes every
// 100 ms. Every node must reach 3 neighbours and get every message published once the overlay has formed, and miss
// none after its first. Time to first message and propagation are printed, never asserted (docs/benchmarks.md has
// them). ~25 s of wall time here. The 2,000-node run (~5 min, so not in every CI run) is
// `RUNNEL_SIM_DHT_NODES=2000` on this file, or `npm run scale -w @runnel/network -- --discovery dht --spread 20000`
// with more options.
import { describe, it } from 'node:test'
import { formsAndDelivers } from './trackerlessRun.js'

const NODE_COUNT = Number(process.env.RUNNEL_SIM_DHT_NODES ?? 300)

describe(`${NODE_COUNT} trackerless nodes joining over 20 s on the simulator's virtual time`, () => {
  it('form through the DHT (every node 3+ neighbours) and get every message', () =>
    formsAndDelivers({ nodes: NODE_COUNT, joinSpreadMs: 20_000 }))
})
