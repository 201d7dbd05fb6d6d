import { RunnelIncentives } from '@runnel/chain'
import { toStreamPartId, type StreamId } from '@runnel/protocol'
import { parseUnits, type Address } from 'viem'
import type { NodeConfigInput, RunnelNode } from '../../src/index.js'
import { startTestNetwork, type TestNetwork } from '../helpers.js'

type OperatorConfig = NonNullable<NonNullable<NodeConfigInput['plugins']>['operator']>

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

/**
 * Fast settings for tests: polls every 250 ms, heartbeats every second, 3 s inspections. No flags unasked unless
 * `overrides.autoFlag` turns them on: the tests of manual flags must see only their own.
 */
export function operatorConfig(operatorAddress: Address, overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  return {
    operatorAddress,
    pollIntervalMs: 250,
    heartbeatIntervalMs: 1_000,
    staleAfterHeartbeats: 3,
    withdrawThreshold: '1',
    review: { windowMs: 3_000, minMessages: 5 },
    autoFlag: { enabled: false },
    ...overrides,
  }
}

/** Starts an operator node as dev account `index` (no APIs: it only relays), with `operator` settings over the tests'. */
export function startOperatorNode(
  network: TestNetwork,
  index: number,
  operator: Address,
  extra: NodeConfigInput = {},
  overrides: Partial<OperatorConfig> = {},
): Promise<RunnelNode> {
  return network.startNode(index, {
    ...extra,
    plugins: {
      http: undefined,
      websocket: undefined,
      mqtt: undefined,
      operator: operatorConfig(operator, overrides),
    },
  })
}

/** Two honest operators and a free rider on one sponsored stream, an outsider staked elsewhere, and their nodes. */
export interface FreeRiderScenario {
  readonly network: TestNetwork
  readonly streamId: string
  readonly sponsorshipId: number
  readonly honestA: Address
  readonly honestB: Address
  readonly freeRider: Address
  readonly outsider: Address
  /** The nodes of honestA, honestB, the free rider and the outsider, in that order (dev accounts 3, 5, 7, 9). */
  readonly nodes: readonly RunnelNode[]
  stop(): Promise<void>
}

/**
 * Starts the free-rider scenario: owners 2, 4, 6, 8 with nodes 3, 5, 7, 9; the free rider's node takes messages and
 * relays none (`network.dropRelayedMessages`); account 0 delegates 1,000 RNL to the free rider; account 1 publishes
 * on the sponsored stream every 50 ms once the three staked nodes relay its part. `operator` settings apply to every
 * node (e.g. `autoFlag`).
 */
export async function startFreeRiderScenario(operator: Partial<OperatorConfig> = {}): Promise<FreeRiderScenario> {
  const network = await startTestNetwork()
  let stopPublishing: () => void = () => undefined
  try {
    const streamId = await network.createPublicStream('/sponsored')
    const otherStreamId = await network.createPublicStream('/elsewhere')
    const sponsor = incentivesAs(network, 1)
    const sponsorshipId = (await sponsor.createSponsorship({ streamId, ratePerSecond: rnl('1') }, rnl('100000'))).id
    const elsewhere = (
      await sponsor.createSponsorship({ streamId: otherStreamId, ratePerSecond: rnl('1') }, rnl('1000'))
    ).id
    const honestA = await createStakedOperator(network, 2, [3], [sponsorshipId])
    const honestB = await createStakedOperator(network, 4, [5], [sponsorshipId])
    const freeRider = await createStakedOperator(network, 6, [7], [sponsorshipId])
    const outsider = await createStakedOperator(network, 8, [9], [elsewhere])
    await incentivesAs(network, 0).delegate(freeRider, rnl('1000'))
    const nodes = [
      await startOperatorNode(network, 3, honestA, {}, operator),
      await startOperatorNode(network, 5, honestB, {}, operator),
      await startOperatorNode(
        network,
        7,
        freeRider,
        { network: { ...network.discovery, dropRelayedMessages: true } },
        operator,
      ),
      await startOperatorNode(network, 9, outsider, {}, operator),
    ]
    const streamPartId = toStreamPartId(streamId as StreamId, 0)
    for (const node of nodes.slice(0, 3)) {
      await eventually(
        () => node.client.networkNode.getStreamParts().includes(streamPartId),
        30_000,
        `operator node ${node.address} to relay ${streamPartId}`,
      )
    }
    stopPublishing = keepPublishing(network, 1, streamId)
    return {
      network,
      streamId,
      sponsorshipId,
      honestA,
      honestB,
      freeRider,
      outsider,
      nodes,
      async stop() {
        stopPublishing()
        await network.stop()
      },
    }
  } catch (err) {
    stopPublishing()
    await network.stop()
    throw err
  }
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
