// The checks of a trackerless simulation run, shared by the CI tests of its two shapes (simulator-dht*.test.ts).
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describeResult, runScenario, type ScenarioOptions } from './scenario.js'

/**
 * Runs the scenario in dht mode (seed 14, 5 s of hold) and asserts what a trackerless overlay must do: every node
 * started, has 3+ neighbours after forming and 5 s later, got every message published once it had formed and none
 * missed after its first, and no message was invalid. Prints the figures (time to first message, propagation).
 */
export async function formsAndDelivers(options: Omit<ScenarioOptions, 'seed' | 'discovery'>): Promise<void> {
  const wallStart = performance.now()
  const result = await runScenario({ seed: 14, discovery: 'dht', holdMs: 5_000, ...options })
  console.log(describeResult(result).join('\n'))
  console.log(`wall time of the whole test: ${((performance.now() - wallStart) / 1000).toFixed(1)} s`)
  assert.equal(result.failedStarts, 0, 'every node started and joined')
  assert.ok(result.neighbors.min >= 3, `least neighbours after forming: ${result.neighbors.min}`)
  assert.ok(result.neighborsAfterHold.min >= 3, `least neighbours 5 s later: ${result.neighborsAfterHold.min}`)
  assert.equal(result.delivery, 1, '100% delivery')
  assert.equal(result.missedAfterFirst, 0, 'no node missed a message after its first')
  assert.equal(result.invalidMessages, 0)
}
