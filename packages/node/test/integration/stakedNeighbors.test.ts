import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ChainError, encodeMetadata, type StreamMetadata } from '@runnel/chain'
import { toStreamPartId, type StreamId } from '@runnel/protocol'
import { startTestNetwork, type TestNetwork } from '../helpers.js'
import { accountOf, createStakedOperator, incentivesAs, rnl } from '../support/operators.js'

/**
 * Staked neighbours on the dev chain: a node prefers, as neighbours in a stream whose metadata sets
 * `preferStakedOperators`, exactly the nodes of operators staked on that stream's sponsorships.
 */
describe('staked neighbours', () => {
  let network: TestNetwork
  let preferring: string
  let plain: string

  before(async () => {
    network = await startTestNetwork()
    const owner = network.client(1)
    preferring = (await owner.createStream('/staked', { partitions: 1, preferStakedOperators: true })).id
    plain = await network.createPublicStream('/plain')
    const sponsorships = []
    for (const streamId of [preferring, plain]) {
      const { id } = await incentivesAs(network, 1).createSponsorship(
        { streamId, ratePerSecond: rnl('1') },
        rnl('1000'),
      )
      sponsorships.push(id)
    }
    // Owner 2 runs node account 3, staked on both streams' sponsorships; account 4 runs for nobody.
    await createStakedOperator(network, 2, [3], sponsorships)
  })
  after(() => network.stop())

  it('prefers the nodes of operators staked on the stream, only where the stream asks for it', async () => {
    const node = await network.startNode(5)
    const staked = accountOf(network, 3)
    const other = accountOf(network, 4)
    const part = toStreamPartId(preferring as StreamId, 0)
    assert.equal(node.stakedNeighbors.prefers(staked, part), false, 'nothing is preferred before the chain was read')
    const nodes = await node.stakedNeighbors.refresh(part)
    assert.deepEqual([...nodes], [staked.toLowerCase()])
    assert.equal(node.stakedNeighbors.prefers(staked, part), true)
    assert.equal(node.stakedNeighbors.prefers(staked.toLowerCase(), part), true)
    assert.equal(node.stakedNeighbors.prefers(other, part), false, 'a node no staked operator lists')
    const plainPart = toStreamPartId(plain as StreamId, 0)
    assert.deepEqual([...(await node.stakedNeighbors.refresh(plainPart))], [], 'the stream without the option')
    assert.equal(node.stakedNeighbors.prefers(staked, plainPart), false)
  })

  it('refuses a preferStakedOperators that is not a boolean, naming it', () => {
    assert.throws(
      // JSON from anywhere (a CLI flag, a config file) reaches encodeMetadata untyped.
      () => encodeMetadata({ preferStakedOperators: 'yes' } as unknown as StreamMetadata),
      (err: unknown) =>
        err instanceof ChainError && err.code === 'INVALID_METADATA' && /preferStakedOperators/.test(err.message),
    )
  })
})
