// The DHT poisoning and Sybil attack matrix (dhtAttacks.ts): each attacker kind in each discovery mode it applies
// to, at 10%, 30% and 50% of the nodes, with the mitigations off and on; prints a markdown table.
//
//   npm run attacks:dht -w @runnel/network
//   npm run attacks:dht -w @runnel/network -- --nodes 300 --kinds sybil --modes tracker --fractions 0.3
//
// Options: --nodes N (default 200), --seed S (default 17), --kinds poison,sybil, --modes dht,tracker,
// --fractions 0.1,0.3,0.5, --paths D (disjoint lookup paths with mitigations on, default 3), --grind G (each attacker
// draws G keys and the attackers keep the closest to the stream part's DHT key; 1: no grinding; default 16).
import { parseArgs } from 'node:util'
import { runDhtAttack, type DhtAttackKind, type DhtAttackResult } from './dhtAttacks.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '200' },
    seed: { type: 'string', default: '17' },
    kinds: { type: 'string', default: 'poison,sybil' },
    modes: { type: 'string', default: 'dht,tracker' },
    fractions: { type: 'string', default: '0.1,0.3,0.5' },
    paths: { type: 'string', default: '3' },
    grind: { type: 'string', default: '16' },
  },
})
const kinds = values.kinds.split(',') as DhtAttackKind[]
const modes = values.modes.split(',') as ('dht' | 'tracker')[]
const fractions = values.fractions.split(',').map(Number)
const nodes = Number(values.nodes)
const seed = Number(values.seed)
const lookupPaths = Number(values.paths)
const grind = Number(values.grind)

const percent = (value: number | undefined): string => (value === undefined ? '–' : `${(value * 100).toFixed(1)}%`)
console.log(
  `${nodes} nodes, seed ${seed}; attackers grind their ids ${grind}× towards the stream part's key; ` +
    `mitigations on: ${lookupPaths} disjoint lookup paths and the default caps`,
)
console.log('')
console.log(
  '| attack | mode | attackers | mitigations | delivery to honest | honest with a neighbour | attacker share of honest neighbours | entry-point lookups honest | closest-node lookups | requests per lookup | wall s |',
)
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
for (const kind of kinds) {
  for (const discovery of modes) {
    // Poisoning is of DHT answers: tracker mode has none.
    if (kind === 'poison' && discovery === 'tracker') continue
    for (const fraction of fractions) {
      for (const mitigated of [false, true]) {
        let result: DhtAttackResult
        try {
          result = await runDhtAttack({ nodes, seed, discovery, kind, fraction, mitigated, lookupPaths, grind })
        } catch (err) {
          console.log(
            `| ${kind} | ${discovery} | ${fraction * 100}% | ${mitigated ? 'on' : 'off'} | FAILED: ${String(err)} |`,
          )
          continue
        }
        console.log(
          `| ${kind} | ${discovery} | ${result.attackers} (${fraction * 100}%) | ${mitigated ? 'on' : 'off'} | ` +
            `${percent(result.delivery)} | ${percent(result.honestWithNeighbors)} | ${percent(result.attackerNeighborShare)} | ` +
            `${percent(result.entryPointLookups)} | ${percent(result.closestLookups)} | ` +
            `${result.queriesPerLookup?.toFixed(1) ?? '–'} | ${(result.wallMs / 1000).toFixed(1)} |`,
        )
      }
    }
  }
}
