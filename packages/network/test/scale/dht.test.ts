// The DHT's must-show on the simulator's virtual time with measured region
// latencies: 500 nodes (a ConnectionManager and a DhtNode each) join through
// three entry points, then lookups for random keys from random nodes are
// compared with the k closest ids brute force finds over every live node.
// Then 10% of the nodes are killed and the lookups run again at once, with no
// time to repair (routing tables still list the dead). RUNNEL_DHT_NODES sets
// the node count: RUNNEL_DHT_NODES=2000 is the bigger run (~80 s), kept out of every CI run.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { SeededRandom } from '../../src/index.js'
import { startDhtNetwork, type LookupFigures } from './dhtScenario.js'

const NODE_COUNT = Number(process.env.RUNNEL_DHT_NODES ?? 500)
const LOOKUPS = 200
const SEED = 15

function describeFigures(label: string, figures: LookupFigures): string {
  return [
    `${label}: ${figures.lookups} lookups, hit rate ${(figures.hitRate * 100).toFixed(2)}%`,
    `(${figures.perfect} found all k),`,
    `${figures.meanQueries.toFixed(1)} requests and ${figures.meanHops.toFixed(1)} hops per lookup,`,
    `${figures.failedRequests} failed requests,`,
    `virtual ${figures.meanVirtualMs.toFixed(0)} ms mean / ${figures.maxVirtualMs.toFixed(0)} ms max per lookup,`,
    `wall ${(figures.wallMs / 1000).toFixed(1)} s for all`,
  ].join(' ')
}

describe(`a DHT of ${NODE_COUNT} nodes on the simulator's virtual time`, () => {
  it('finds the true k closest for every random key (100%), and ≥ 99% right after 10% of the nodes die', async () => {
    const wallStart = performance.now()
    const network = await startDhtNetwork({ nodes: NODE_COUNT, seed: SEED })
    try {
      const tableSizes = network.members.map((member) => member.dht.metrics.routingTableSize).sort((a, b) => a - b)
      console.log(
        `${NODE_COUNT} nodes joined in ${(network.joinVirtualMs / 1000).toFixed(1)} s virtual, ` +
          `${(network.joinWallMs / 1000).toFixed(1)} s wall; routing table sizes min ${tableSizes[0]}, ` +
          `median ${tableSizes[tableSizes.length >> 1]}, max ${tableSizes.at(-1)}`,
      )
      assert.ok(network.members.every((member) => member.dht.joined))
      const random = new SeededRandom(SEED).fork('lookups')

      const steady = await network.lookups(LOOKUPS, random)
      console.log(describeFigures('no churn', steady))
      assert.equal(steady.hitRate, 1, 'every lookup finds exactly the k closest')

      const killed = await network.kill(0.1, random)
      const churned = await network.lookups(LOOKUPS, random)
      console.log(describeFigures(`${killed} nodes just killed, no repair`, churned))
      assert.ok(churned.hitRate >= 0.99, `hit rate ${churned.hitRate} over live nodes`)
    } finally {
      await network.stop()
      console.log(`whole test: ${((performance.now() - wallStart) / 1000).toFixed(1)} s wall`)
    }
  })
})
