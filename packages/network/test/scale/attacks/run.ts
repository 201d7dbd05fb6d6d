// The attack matrix: `npm run attacks -w @runnel/network`. Every attacker kind × discovery mode × attacker share ×
// mitigations off/on, each a network on the simulator's virtual time (attackScenario.ts); prints one markdown table of
// delivery to honest nodes and latency. Flags pick a subset:
//
//   npm run attacks -w @runnel/network                                           # the whole matrix, 200 nodes
//   npm run attacks -w @runnel/network -- --attack dropper --discovery tracker --fraction 0.3
//   npm run attacks -w @runnel/network -- --mitigations on --nodes 500 --seed 7
//
// Options: --attack a,b (default every kind but 'none'), --discovery tracker|dht|both, --fraction 0.1,0.3,0.5,
// --mitigations off|on|both, --nodes N (default 200), --seed S, --warmup MS (default 30000), --messages M (default 50).
import { parseArgs } from 'node:util'
import { ATTACKERS, runAttackScenario, type AttackResult, type DiscoveryMode } from './attackScenario.js'

const { values } = parseArgs({
  options: {
    attack: { type: 'string' },
    discovery: { type: 'string', default: 'both' },
    fraction: { type: 'string', default: '0.1,0.3,0.5' },
    mitigations: { type: 'string', default: 'both' },
    nodes: { type: 'string', default: '200' },
    seed: { type: 'string', default: '17' },
    warmup: { type: 'string', default: '30000' },
    messages: { type: 'string', default: '50' },
  },
})

function fail(message: string): never {
  console.error(message)
  process.exit(2)
}

const attacks = (values.attack ?? [...ATTACKERS.keys()].filter((name) => name !== 'none').join(',')).split(',')
for (const attack of attacks) {
  if (!ATTACKERS.has(attack)) fail(`unknown --attack ${attack}; known: ${[...ATTACKERS.keys()].join(', ')}`)
}
const modes: DiscoveryMode[] = values.discovery === 'both' ? ['tracker', 'dht'] : [values.discovery as DiscoveryMode]
if (!modes.every((mode) => mode === 'tracker' || mode === 'dht')) fail('--discovery must be tracker, dht or both')
const fractions = values.fraction.split(',').map(Number)
if (!fractions.every((fraction) => fraction >= 0 && fraction < 1)) fail('--fraction takes shares in [0, 1)')
const mitigationSettings =
  values.mitigations === 'both' ? [false, true] : values.mitigations === 'on' ? [true] : [false]
if (!['both', 'on', 'off'].includes(values.mitigations)) fail('--mitigations must be off, on or both')
const nodes = Number(values.nodes)
const seed = Number(values.seed)
const warmupMs = Number(values.warmup)
const messages = Number(values.messages)

const percent = (value: number | undefined): string => (value === undefined ? '–' : `${(value * 100).toFixed(2)}%`)
const ms = (value: number): string => (Number.isNaN(value) ? '–' : value.toFixed(0))
const row = (result: AttackResult): string => {
  const { options } = result
  return `| ${options.attack} | ${options.discovery} | ${(options.fraction * 100).toFixed(0)}% | ${options.mitigations ? 'on' : 'off'} | ${percent(result.delivery)} | ${percent(result.victimDelivery)} | ${result.cutOff} | ${ms(result.latency.mean)} | ${ms(result.latency.p99)} | ${result.rotations} | ${result.honestDegree.min} / ${result.honestDegree.mean.toFixed(1)} | ${(result.wallMs / 1000).toFixed(1)} |`
}

console.log(
  `Attack matrix: ${nodes} nodes, seed ${seed}, warm-up ${warmupMs / 1000} s, ${messages} measured messages (one per 200 ms)\n`,
)
console.log(
  '| attack | discovery | attackers | mitigations | delivery to honest | to victims | honest cut off | mean ms | p99 ms | rotations | honest degree min / mean | wall s |',
)
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const attack of attacks) {
  for (const discovery of modes) {
    for (const fraction of fractions) {
      for (const mitigations of mitigationSettings) {
        try {
          const result = await runAttackScenario({
            nodes,
            seed,
            discovery,
            attack,
            fraction,
            mitigations,
            warmupMs,
            messages,
          })
          console.log(row(result))
        } catch (err) {
          console.log(
            `| ${attack} | ${discovery} | ${(fraction * 100).toFixed(0)}% | ${mitigations ? 'on' : 'off'} | FAILED: ${err instanceof Error ? err.message : String(err)} |`,
          )
          process.exitCode = 1
        }
      }
    }
  }
}
