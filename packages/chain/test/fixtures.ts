import assert from 'node:assert/strict'
import { ChainError, RunnelIncentives, type ChainErrorCode } from '../src/index.js'
import { startDevChain, type DevChain } from '@runnel/dev-chain'

export type TestChain = DevChain

/** An in-process embedded chain with the contracts deployed. */
export function startTestChain(options?: Parameters<typeof startDevChain>[0]): Promise<TestChain> {
  return startDevChain(options)
}

/** The incentive bindings acting as dev account `index`. */
export function incentivesFor(dev: TestChain, index: number): RunnelIncentives {
  return new RunnelIncentives({
    publicClient: dev.publicClient,
    walletClient: dev.walletFor(index),
    addresses: dev.deployment.incentives,
  })
}

/** Asserts that `promise` rejects with a ChainError of `code` whose message matches `pattern`. */
export async function assertChainError(
  promise: Promise<unknown>,
  code: ChainErrorCode,
  pattern?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ChainError, `expected ChainError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return true
  })
}
