import assert from 'node:assert/strict'
import { parseConfig } from '../../src/config.js'
import { NodeError } from '../../src/errors.js'

/** The lines of the INVALID_CONFIG message that `parseConfig(input)` throws, each naming a bad key; fails if it accepts. */
export function configProblems(input: unknown): string[] {
  try {
    parseConfig(input)
  } catch (err) {
    assert.ok(err instanceof NodeError)
    assert.equal(err.code, 'INVALID_CONFIG')
    return err.message
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
  }
  assert.fail('the config was accepted')
}
