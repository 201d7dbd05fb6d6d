import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { toStreamPartId, type StreamId, type StreamPartId } from '@runnel/protocol'
import type { Address } from 'viem'
import { NodeError, parseConfig, type RunnelNode } from '../../src/index.js'
import { rendezvousHolders } from '../../src/plugins/operator/rendezvous.js'
import { startTestNetwork, type TestNetwork } from '../helpers.js'
import {
  accountOf,
  createStakedOperator,
  eventually,
  incentivesAs,
  rnl,
  startOperatorNode,
} from '../support/operators.js'

const PARTITIONS = 8

describe('operator plugin: nodes of one operator', () => {
  let network: TestNetwork
  let operator: Address
  let parts: StreamPartId[]

  before(async () => {
    network = await startTestNetwork()
    const streamId = await network.createPublicStream('/shared', PARTITIONS)
    parts = Array.from({ length: PARTITIONS }, (_, i) => toStreamPartId(streamId as StreamId, i))
    const { id } = await incentivesAs(network, 1).createSponsorship({ streamId, ratePerSecond: rnl('1') }, rnl('1000'))
    // Owner 2; its nodes are accounts 3 and 4.
    operator = await createStakedOperator(network, 2, [3, 4], [id])
  })
  after(() => network.stop())

  it('share the stream parts by rendezvous hashing, and one takes over the parts of another whose heartbeat went stale', async () => {
    const [first, second] = [accountOf(network, 3).toLowerCase(), accountOf(network, 4).toLowerCase()]
    const expected = (node: string): StreamPartId[] =>
      parts.filter((part) => rendezvousHolders([first, second], part, 1)[0] === node)
    assert.ok(expected(first).length > 0 && expected(second).length > 0, 'the parts are split between the two nodes')

    const survivor = await startOperatorNode(network, 3, operator)
    const victim = await startOperatorNode(network, 4, operator)
    const relayed = (node: RunnelNode): StreamPartId[] => node.operator!.relayedStreamParts.sort()
    await eventually(
      () =>
        relayed(survivor).join() === expected(first).sort().join() &&
        relayed(victim).join() === expected(second).sort().join(),
      30_000,
      'each node to relay its own share of the parts',
    )
    for (const part of expected(first)) assert.ok(survivor.client.networkNode.getStreamParts().includes(part))

    await victim.stop()
    await eventually(
      () => relayed(survivor).length === PARTITIONS,
      30_000,
      'the surviving node to take over the stopped node’s parts once its heartbeat is stale',
    )
    for (const part of parts) {
      await eventually(
        () => survivor.client.networkNode.getStreamParts().includes(part),
        10_000,
        `the surviving node to join ${part}`,
      )
    }
    assert.match(
      await survivor.metrics.registry.getSingleMetricAsString('runnel_operator_stream_parts'),
      new RegExp(`^runnel_operator_stream_parts ${PARTITIONS}$`, 'm'),
    )
  })

  it('refuse to start with an address that is no operator, or when the node is not listed, naming what is wrong', async () => {
    await assert.rejects(
      startOperatorNode(network, 5, network.dev.deployment.incentives.token),
      (err: unknown) =>
        err instanceof NodeError && err.code === 'INVALID_CONFIG' && /is not an operator contract/.test(err.message),
    )
    await assert.rejects(
      startOperatorNode(network, 5, operator),
      (err: unknown) =>
        err instanceof NodeError &&
        err.code === 'INVALID_CONFIG' &&
        err.message.includes(`is not one of operator ${operator}'s nodes`),
    )
  })

  it('refuse a config without the node’s own key or with a malformed operator address', () => {
    assert.throws(
      () => parseConfig({ plugins: { operator: { operatorAddress: operator } } }),
      (err: unknown) => err instanceof NodeError && /privateKey: the operator plugin needs/.test(err.message),
    )
    assert.throws(
      () => parseConfig({ privateKey: '11'.repeat(32), plugins: { operator: { operatorAddress: '0x1234' } } }),
      (err: unknown) =>
        err instanceof NodeError && /plugins\.operator\.operatorAddress: an 0x-prefixed/.test(err.message),
    )
  })
})
