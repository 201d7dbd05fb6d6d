import { RunnelIncentives } from '@runnel/chain'
import { parseUnits, type Address } from 'viem'
import type { NodeConfigInput, RunnelNode } from '../../src/index.js'
import type { TestNetwork } from '../helpers.js'

export const rnl = (amount: string): bigint => parseUnits(amount, 18)

/** The incentive bindings acting as dev account `index`. */
export function incentivesAs(network: TestNetwork, index: number): RunnelIncentives {
  return new RunnelIncentives({
    publicClient: network.dev.publicClient,
    walletClient: network.dev.walletFor(index),
    addresses: network.dev.deployment.incentives,
  })
}

export function accountOf(network: TestNetwork, index: number): Address {
  return network.dev.walletFor(index).account.address
}

/**
 * Dev account `owner` creates an operator, delegates `selfDelegation` RNL to it, lists the `nodes` accounts as its
 * nodes and stakes `stake` RNL on each sponsorship given.
 */
export async function createStakedOperator(
  network: TestNetwork,
  owner: number,
  nodes: readonly number[],
  sponsorships: readonly number[],
  { selfDelegation = '10000', stake = '5000' } = {},
): Promise<Address> {
  const as = incentivesAs(network, owner)
  const operator = await as.createOperator({ cutBps: 1000 })
  await as.delegate(operator, rnl(selfDelegation))
  await as.setNodes(nodes.map((node) => accountOf(network, node)))
  for (const id of sponsorships) await as.stake(id, rnl(stake))
  return operator
}

/** Fast settings for tests: polls every 250 ms, heartbeats every second, 3 s inspections. */
export function operatorConfig(
  operatorAddress: Address,
  overrides: Partial<NonNullable<NonNullable<NodeConfigInput['plugins']>['operator']>> = {},
): NonNullable<NodeConfigInput['plugins']>['operator'] {
  return {
    operatorAddress,
    pollIntervalMs: 250,
    heartbeatIntervalMs: 1_000,
    staleAfterHeartbeats: 3,
    withdrawThreshold: '1',
    review: { windowMs: 3_000, minMessages: 5 },
    ...overrides,
  }
}

/** Starts an operator node as dev account `index` (no APIs: it only relays). */
export function startOperatorNode(
  network: TestNetwork,
  index: number,
  operator: Address,
  extra: NodeConfigInput = {},
): Promise<RunnelNode> {
  return network.startNode(index, {
    ...extra,
    plugins: { http: undefined, websocket: undefined, mqtt: undefined, operator: operatorConfig(operator) },
  })
}

/** Publishes a small message every `intervalMs` until the returned function is called. */
export function keepPublishing(network: TestNetwork, account: number, streamId: string, intervalMs = 50): () => void {
  let stopped = false
  let n = 0
  const client = network.client(account)
  const loop = async (): Promise<void> => {
    while (!stopped) {
      await client.publish(streamId, { n: n++ }).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
  }
  void loop()
  return () => {
    stopped = true
  }
}

/** Polls an async `condition` until it holds (chain reads); fails naming `what` at the time out. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
