import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { RunnelMarket } from '@runnel/chain'
import type { Address, Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { joinRequestMessage, type JoinPartRecord, type MembershipAction, type RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const SECRET = 'let-me-in-please'

/**
 * The join server against a dev chain on 127.0.0.1 and a real node: members sign requests over HTTP, the node's key
 * (a join agent) adds them on chain, and every refusal has its own status.
 */
describe('Data Union join server', () => {
  let network: TestNetwork
  let node: RunnelNode
  let admin: RunnelMarket
  let union: Address
  let joinPartStream: string
  let base: string
  const records: JoinPartRecord[] = []

  before(async () => {
    network = await startTestNetwork()
    admin = network.dev.marketFor(1)
    const agent = privateKeyToAccount(network.dev.chain.accountKeys[2]!).address
    union = (await admin.createDataUnion({ adminFeeBps: 1000, joinAgents: [agent] })).toLowerCase() as Address
    joinPartStream = await network.createPublicStream('/union/joins')
    await network.client(3).subscribe(joinPartStream, (message) => records.push(message.content as JoinPartRecord))
    node = await network.startNode(2, {
      plugins: {
        http: false,
        websocket: false,
        mqtt: false,
        dataUnionJoin: {
          port: 0,
          dataUnions: { [union]: { secrets: [SECRET], joinPartStream } },
          requestsPerMinute: 600,
        },
      },
    })
    base = node.dataUnionJoin!.url!
  })
  after(() => network.stop())

  interface Signed {
    readonly member: Address
    readonly timestamp: number
    readonly signature: Hex
    readonly secret?: string
    readonly metadata?: string
  }

  /** A request signed by `key` (a new member's by default), for `union`. */
  async function signed(
    action: MembershipAction,
    options: { key?: Hex; member?: Address; timestamp?: number; secret?: string; metadata?: string } = {},
  ): Promise<Signed> {
    const account = privateKeyToAccount(options.key ?? generatePrivateKey())
    const member = options.member ?? account.address
    const timestamp = options.timestamp ?? Date.now()
    const fields = {
      dataUnion: union,
      member,
      timestamp,
      ...(options.metadata !== undefined && { metadata: options.metadata }),
    }
    const signature = await account.signMessage({ message: joinRequestMessage(action, fields) })
    return {
      member,
      timestamp,
      signature,
      ...(options.secret !== undefined && { secret: options.secret }),
      ...(options.metadata !== undefined && { metadata: options.metadata }),
    }
  }

  async function post(
    action: MembershipAction,
    body: unknown,
    dataUnion: string = union,
  ): Promise<{ status: number; body: Record<string, unknown> & { error?: { code: string; message: string } } }> {
    const response = await fetch(`${base}/dataunions/${dataUnion}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  it('adds a member who brings the right secret, on chain, and announces it on the join/part stream', async () => {
    const key = generatePrivateKey()
    const request = await signed('join', { key, secret: SECRET, metadata: 'campaign-7' })
    const answer = await post('join', request)
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    assert.match(answer.body.txHash as string, /^0x[0-9a-f]{64}$/)
    assert.equal(answer.body.member, request.member.toLowerCase())
    assert.equal((await admin.memberInfo(union, request.member)).status, 'active')
    await waitFor(() => records.some((record) => record.member === request.member.toLowerCase()), 30_000, 'the record')
    assert.deepEqual(
      records.find((record) => record.member === request.member.toLowerCase()),
      { type: 'join', member: request.member.toLowerCase(), txHash: answer.body.txHash, metadata: 'campaign-7' },
    )

    // A new signature by the same member: refused as a member already.
    const again = await post('join', await signed('join', { key, secret: SECRET }))
    assert.equal(again.status, 409, JSON.stringify(again.body))
    assert.equal(again.body.error?.code, 'CONFLICT')
    assert.match(again.body.error?.message ?? '', /member already/)

    // The member leaves with a signed part request (no secret needed).
    const parted = await post('part', await signed('part', { key }))
    assert.equal(parted.status, 200, JSON.stringify(parted.body))
    assert.equal((await admin.memberInfo(union, request.member)).status, 'parted')
  })

  it('refuses a missing or wrong secret with 403, and adds nobody', async () => {
    const missing = await signed('join')
    const wrong = await signed('join', { secret: 'not-the-secret' })
    for (const [request, message] of [
      [missing, /needs a secret/],
      [wrong, /wrong secret/],
    ] as const) {
      const answer = await post('join', request)
      assert.equal(answer.status, 403, JSON.stringify(answer.body))
      assert.equal(answer.body.error?.code, 'PERMISSION_DENIED')
      assert.match(answer.body.error?.message ?? '', message)
      assert.equal((await admin.memberInfo(union, request.member)).status, 'none')
    }
  })

  it('refuses a forged signature, a stale timestamp and a replayed request with 401', async () => {
    const victim = privateKeyToAccount(generatePrivateKey()).address
    const forged = await post('join', await signed('join', { member: victim, secret: SECRET }))
    assert.equal(forged.status, 401, JSON.stringify(forged.body))
    assert.equal(forged.body.error?.code, 'UNAUTHORIZED')
    assert.match(forged.body.error?.message ?? '', /not signed by/)
    assert.equal((await admin.memberInfo(union, victim)).status, 'none')

    const stale = await post('join', await signed('join', { secret: SECRET, timestamp: Date.now() - 10 * 60_000 }))
    assert.equal(stale.status, 401, JSON.stringify(stale.body))
    assert.match(stale.body.error?.message ?? '', /timestamp/)

    const request = await signed('join', { secret: SECRET })
    assert.equal((await post('join', request)).status, 200)
    const replayed = await post('join', request)
    assert.equal(replayed.status, 401, JSON.stringify(replayed.body))
    assert.match(replayed.body.error?.message ?? '', /replay/)
    // The metadata is signed too: changing it breaks the signature.
    const tampered = await post('join', { ...(await signed('join', { secret: SECRET, metadata: 'a' })), metadata: 'b' })
    assert.equal(tampered.status, 401, JSON.stringify(tampered.body))
  })

  it('refuses a replayed part whose signature bytes were changed (v as 0/1 instead of 27/28)', async () => {
    const key = generatePrivateKey()
    assert.equal((await post('join', await signed('join', { key, secret: SECRET }))).status, 200)
    const part = await signed('part', { key })
    assert.equal((await post('part', part)).status, 200)
    // The member comes back; someone who saw its part request sends it again with the other form of v.
    assert.equal((await post('join', await signed('join', { key, secret: SECRET }))).status, 200)
    const v = Number.parseInt(part.signature.slice(-2), 16)
    const malleated = `${part.signature.slice(0, -2)}${(v - 27).toString(16).padStart(2, '0')}` as Hex
    const replayed = await post('part', { ...part, signature: malleated })
    assert.equal(replayed.status, 401, JSON.stringify(replayed.body))
    assert.match(replayed.body.error?.message ?? '', /replay/)
    assert.equal((await admin.memberInfo(union, part.member)).status, 'active', 'the member is still in')
  })

  it('refuses to start serving a union that would admit anyone who signs, unless told it is open', async () => {
    await assert.rejects(
      network.startNode(4, {
        plugins: {
          http: false,
          websocket: false,
          mqtt: false,
          dataUnionJoin: { port: 0, dataUnions: { [union]: {} } },
        },
      }),
      /admits anyone who signs; give it secrets/,
    )
  })

  it('answers garbage with 400, an oversized body with 413 and an unknown union with 404', async () => {
    const cases: [string, unknown, string, number, string, RegExp][] = [
      ['join', '{not json', union, 400, 'BAD_REQUEST', /not valid JSON/],
      ['join', '[1,2]', union, 400, 'BAD_REQUEST', /JSON object/],
      ['join', { member: 'nope', timestamp: 1, signature: '0x00' }, union, 400, 'BAD_REQUEST', /member must be/],
      ['join', { ...(await signed('join')), timestamp: '1' }, union, 400, 'BAD_REQUEST', /timestamp/],
      ['join', { ...(await signed('join')), signature: '0x1234' }, union, 400, 'BAD_REQUEST', /signature/],
      ['join', { ...(await signed('join')), admin: true }, union, 400, 'BAD_REQUEST', /unknown field "admin"/],
      ['join', { ...(await signed('join')), metadata: 'x'.repeat(5_000) }, union, 413, 'PAYLOAD_TOO_LARGE', /4096/],
      ['join', await signed('join'), 'not-an-address', 400, 'BAD_REQUEST', /address/],
      ['join', await signed('join'), `0x${'12'.repeat(20)}`, 404, 'NOT_FOUND', /doesn't serve/],
    ]
    for (const [action, body, dataUnion, status, code, message] of cases) {
      const answer = await post(action as MembershipAction, body, dataUnion)
      assert.equal(answer.status, status, `${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(answer.body)}`)
      assert.equal(answer.body.error?.code, code)
      assert.match(answer.body.error?.message ?? '', message)
    }
    const part = await post('part', await signed('part'))
    assert.equal(part.status, 409, JSON.stringify(part.body))
    assert.match(part.body.error?.message ?? '', /not a member/)
  })

  it('adds members who ask at once in fewer transactions than members', async () => {
    const requests = await Promise.all(Array.from({ length: 4 }, () => signed('join', { secret: SECRET })))
    const answers = await Promise.all(requests.map((request) => post('join', request)))
    for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body))
    const hashes = new Set(answers.map((answer) => answer.body.txHash))
    assert.ok(hashes.size < requests.length, `${hashes.size} transactions for ${requests.length} joins`)
    for (const request of requests) assert.equal((await admin.memberInfo(union, request.member)).status, 'active')
  })

  it('refuses an IP address over its rate with 429', async () => {
    const answers = await Promise.all(Array.from({ length: 150 }, () => post('join', '{}')))
    const statuses = new Set(answers.map((answer) => answer.status))
    assert.ok(statuses.has(429), `statuses: ${[...statuses].join(', ')}`)
    const limited = answers.find((answer) => answer.status === 429)!
    assert.equal(limited.body.error?.code, 'RATE_LIMITED')
  })
})
