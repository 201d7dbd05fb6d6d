import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { DataUnionStateClient } from '@runnel/client'
import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { joinRequestMessage, parseConfig, type RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const SECRET = 'members-only-please'
// So long that only the join/part stream can make the state servers look at the chain again during the test.
const NEVER_MS = 600_000

/**
 * The two Data Union plugins as an operator runs them, from node config: a join server node adds members and announces
 * them on the union's join/part stream; two state server nodes follow the union, woken by that stream, and agree.
 */
describe('Data Union nodes: a join server and two state servers from config', () => {
  let network: TestNetwork
  let joinNode: RunnelNode
  let stateNodes: RunnelNode[]
  let union: Address
  let joinPartStream: string

  before(async () => {
    network = await startTestNetwork()
    const admin = network.dev.marketFor(1)
    const agent = privateKeyToAccount(network.dev.chain.accountKeys[2]!).address
    union = (await admin.createDataUnion({ adminFeeBps: 500, joinAgents: [agent] })).toLowerCase() as Address
    joinPartStream = await network.createPublicStream('/union/joinpart')
    const off = { http: false, websocket: false, mqtt: false } as const
    joinNode = await network.startNode(2, {
      plugins: { ...off, dataUnionJoin: { port: 0, dataUnions: { [union]: { secrets: [SECRET], joinPartStream } } } },
    })
    stateNodes = []
    for (const [i, account] of [4, 5].entries()) {
      stateNodes.push(
        await network.startNode(account, {
          plugins: {
            ...off,
            dataUnionState: {
              port: 0,
              instanceId: `state-${i}`,
              dataUnions: { [union]: { joinPartStream } },
              pollIntervalMs: NEVER_MS,
              peerCheckIntervalMs: NEVER_MS,
            },
          },
        }),
      )
    }
  })
  after(() => network.stop())

  it('a member who joins through the join server shows in both state servers, verified by their agreeing hashes', async () => {
    const member = privateKeyToAccount(generatePrivateKey())
    const timestamp = Date.now()
    const signature = await member.signMessage({
      message: joinRequestMessage('join', { dataUnion: union, member: member.address, timestamp }),
    })
    const joined = await fetch(`${joinNode.dataUnionJoin!.url!}/dataunions/${union}/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ member: member.address, timestamp, signature, secret: SECRET }),
    })
    assert.equal(joined.status, 200, await joined.clone().text())
    const { txHash } = (await joined.json()) as { txHash: string }

    const urls = stateNodes.map((node) => node.dataUnionState!.baseUrl!)
    const client = new DataUnionStateClient({ urls })
    // The state servers poll the chain only every ten minutes: the join/part record is what brings the join in.
    await waitFor(
      () => stateNodes.every((node) => node.dataUnionState!.state(union)?.member(member.address) !== undefined),
      60_000,
      'the member at both state servers',
    )
    const verified = await client.verifiedMember(union, member.address)
    assert.equal(verified.confirmedBy.length, 2, 'both instances hold the same hash')
    assert.equal(verified.proof.record.weight, 1n)
    const view = await fetch(`${urls[0]}/dataunions/${union}/members/${member.address}`).then(
      (r) => r.json() as Promise<Record<string, unknown>>,
    )
    assert.equal(JSON.stringify(view).toLowerCase().includes(txHash.toLowerCase()), true, 'the stream record beside it')
  })

  it('refuses a state server config that names no union or a malformed one', () => {
    const bad = (dataUnionState: unknown) => () => parseConfig({ plugins: { dataUnionState } }, 'test config')
    assert.throws(bad({ dataUnions: {} }), /name at least one Data Union/)
    assert.throws(bad({ dataUnions: { '0x12': {} } }), /address/)
    assert.throws(bad({ dataUnions: { [union]: {} }, peers: ['ftp://x'] }), /http/)
  })
})
