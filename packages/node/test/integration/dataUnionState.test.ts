// Replicated Data Union state servers on a real embedded chain: three instances follow one union through 1,000
// random joins, parts, weight changes and revenues and agree on every block's hash; one restarted from nothing
// catches up and agrees; one fed a tampered event is found diverged by the others and by the SDK; queries spread
// across the three.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { dataUnionAbi, dataUnionFactoryAbi, runnelTokenAbi, type DataUnionEvent } from '@runnel/chain'
import { DataUnionStateClient, type DivergedInstance } from '@runnel/client'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { getAddress, parseEventLogs, type Abi, type Address } from 'viem'
import {
  DataUnionStateServer,
  INSTANCE_HEADER,
  type DivergenceReport,
  type MemberStreamRecord,
} from '../../src/index.js'
import { UnionFollower, type ChainLogSource } from '../../src/plugins/dataUnionState/UnionFollower.js'
import { waitFor } from '../helpers.js'

const EVENT_TARGET = 1_000
const ADMIN = 0

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** A join/part stream fed by the test. */
class TestMemberStream implements AsyncIterable<MemberStreamRecord> {
  private readonly queue: MemberStreamRecord[] = []
  private wake: (() => void) | undefined
  push(record: MemberStreamRecord): void {
    this.queue.push(record)
    this.wake?.()
  }
  async *[Symbol.asyncIterator](): AsyncIterator<MemberStreamRecord> {
    for (;;) {
      const next = this.queue.shift()
      if (next !== undefined) yield next
      else await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }
}

describe('replicated Data Union state servers', () => {
  const seed = Number(process.env.DU_STATE_SEED ?? 20_240_611)
  const random = prng(seed)
  let dev: DevChain
  let union: Address
  let fromBlock: bigint
  const servers: DataUnionStateServer[] = []
  const everyServer: DataUnionStateServer[] = []
  const members: Address[] = []
  let emitted = 0

  const send = async (address: Address, abi: Abi, functionName: string, args: readonly unknown[]): Promise<void> => {
    const wallet = dev.walletFor(ADMIN)
    const hash = await wallet.writeContract({ address, abi, functionName, args })
    const receipt = await dev.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 5 })
    assert.equal(receipt.status, 'success')
    emitted += receipt.logs.filter((log) => getAddress(log.address) === union).length
  }

  const startServer = async (
    instanceId: string,
    options: {
      eventFilter?: (event: DataUnionEvent) => DataUnionEvent | undefined
      pollIntervalMs?: number
      memberStream?: TestMemberStream
    } = {},
  ): Promise<DataUnionStateServer> => {
    const server = new DataUnionStateServer(
      {
        dataUnions: [union],
        instanceId,
        fromBlock,
        pollIntervalMs: options.pollIntervalMs ?? 100,
        peerCheckIntervalMs: 600_000,
        blockRange: 500n,
      },
      {
        publicClient: dev.publicClient,
        ...(options.eventFilter === undefined ? {} : { eventFilter: options.eventFilter }),
        ...(options.memberStream === undefined ? {} : { memberStream: () => options.memberStream! }),
      },
    )
    await server.start()
    everyServer.push(server)
    return server
  }

  const chainHead = (): Promise<bigint> => dev.publicClient.getBlockNumber({ cacheTime: 0 })

  const waitForHead = async (group: readonly DataUnionStateServer[]): Promise<bigint> => {
    const head = await chainHead()
    await waitFor(
      () => group.every((s) => s.head !== undefined && s.head >= head),
      60_000,
      `every instance to reach block ${head}`,
    )
    return head
  }

  const assertSameHashes = (a: DataUnionStateServer, b: DataUnionStateServer, head: bigint): void => {
    const stateA = a.state(union)!
    const stateB = b.state(union)!
    for (let block = fromBlock; block <= head; block++) {
      const hash = stateA.hashAt(block)
      assert.ok(hash !== undefined, `${a.instanceId} has block ${block}`)
      assert.equal(stateB.hashAt(block), hash, `${a.instanceId} and ${b.instanceId} at block ${block}`)
    }
  }

  /** A new union of the network token with the given admin fee, and the block it was created in. */
  const createUnion = async (adminFeeBps: number, name: string): Promise<{ address: Address; block: bigint }> => {
    const hash = await dev.walletFor(ADMIN).writeContract({
      address: dev.deployment.market.dataUnionFactory,
      abi: dataUnionFactoryAbi,
      functionName: 'createDataUnion',
      args: [dev.deployment.incentives.token, adminFeeBps, [], name],
    })
    const receipt = await dev.publicClient.waitForTransactionReceipt({ hash })
    const [created] = parseEventLogs({ abi: dataUnionFactoryAbi, logs: receipt.logs, eventName: 'DataUnionCreated' })
    return { address: getAddress(created!.args.dataUnion), block: receipt.blockNumber }
  }

  before(async () => {
    dev = await startDevChain()
    ;({ address: union, block: fromBlock } = await createUnion(1_000, 'state servers test'))
    for (const id of ['a', 'b', 'c']) servers.push(await startServer(id))
    for (const server of servers) server.setPeers(servers.filter((s) => s !== server).map((s) => s.baseUrl!))
  })

  after(async () => {
    for (const server of everyServer) await server.stop()
    await dev?.stop()
  })

  it(`agree on every block's hash through ${EVENT_TARGET} random joins, parts, weight changes and revenues`, async () => {
    const active = new Set<Address>()
    const parted: Address[] = []
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
    const newMember = (): Address => {
      const bytes = Array.from({ length: 20 }, () =>
        Math.floor(random() * 256)
          .toString(16)
          .padStart(2, '0'),
      )
      const address = getAddress(`0x${bytes.join('')}`)
      members.push(address)
      return address
    }
    let feeChanged = false
    while (emitted < EVENT_TARGET) {
      const roll = random()
      if (roll < 0.3 || active.size < 3) {
        const batch: Address[] = []
        const size = 1 + Math.floor(random() * Math.min(20, EVENT_TARGET - emitted))
        for (let i = 0; i < size; i++) {
          const rejoin = parted.length > 0 && random() < 0.3
          const who = rejoin ? parted.splice(Math.floor(random() * parted.length), 1)[0]! : newMember()
          if (!batch.includes(who)) batch.push(who)
        }
        const weights = batch.map(() => BigInt(1 + Math.floor(random() * 1_000)))
        await send(union, dataUnionAbi, 'addMembers', [batch, weights])
        for (const who of batch) active.add(who)
      } else if (roll < 0.5) {
        const who = pick([...active])
        await send(union, dataUnionAbi, 'partMember', [who])
        active.delete(who)
        parted.push(who)
      } else if (roll < 0.7) {
        await send(union, dataUnionAbi, 'setMemberWeight', [
          pick([...active]),
          BigInt(1 + Math.floor(random() * 5_000)),
        ])
      } else if (roll < 0.72 && !feeChanged) {
        await send(union, dataUnionAbi, 'setAdminFee', [Math.floor(random() * 3_000)])
        await send(union, dataUnionAbi, 'withdrawAdminFees', [dev.walletFor(ADMIN).account.address])
        feeChanged = true
      } else {
        // An odd amount, so the index division leaves remainders to carry.
        const amount = BigInt(Math.floor(random() * 1e12)) * 10n ** 6n + BigInt(1 + Math.floor(random() * 999_999))
        await send(dev.deployment.incentives.token, runnelTokenAbi, 'mint', [union, amount])
        await send(union, dataUnionAbi, 'refreshRevenue', [])
      }
    }
    const head = await waitForHead(servers)
    const onChain = await dev.publicClient.getLogs({ address: union, fromBlock, toBlock: head })
    assert.ok(
      servers.every((s) => s.eventsApplied === onChain.length),
      `${servers.map((s) => s.eventsApplied).join(', ')} events applied, ${onChain.length} on chain`,
    )
    assert.ok(onChain.length > EVENT_TARGET)
    assertSameHashes(servers[0]!, servers[1]!, head)
    assertSameHashes(servers[0]!, servers[2]!, head)
    for (const server of servers) assert.deepEqual(server.state(union)!.problems, [])

    // The state is the contract's: every figure of a sample of members, and the union's stats.
    const state = servers[1]!.state(union)!
    for (const who of [...members].sort(() => random() - 0.5).slice(0, 25)) {
      const info = await dev.publicClient.readContract({
        address: union,
        abi: dataUnionAbi,
        functionName: 'memberInfo',
        args: [who],
      })
      const view = state.member(who)!
      assert.deepEqual(
        [view.status, view.weight, view.earned, view.withdrawn, view.withdrawable],
        [info.status, info.weight, info.earned, info.withdrawn, info.withdrawable],
        who,
      )
    }
    const stats = await dev.publicClient.readContract({ address: union, abi: dataUnionAbi, functionName: 'stats' })
    const totals = state.totals()
    assert.deepEqual(
      [
        totals.totalRevenue,
        totals.totalWeight,
        totals.activeMemberCount,
        totals.memberCount,
        totals.revenuePerWeight,
        totals.adminEarned,
        totals.adminWithdrawn,
        totals.adminFeeBps,
      ],
      [
        stats.totalRevenue,
        stats.totalWeight,
        stats.activeMemberCount,
        stats.memberCount,
        stats.revenuePerWeight,
        stats.adminEarned,
        stats.adminWithdrawn,
        stats.adminFeeBps,
      ],
    )
    const comparisons = await servers[0]!.checkPeers()
    assert.equal(comparisons[0]!.block, head)
    assert.ok(comparisons[0]!.instances.every((i) => i.agrees))
  })

  it('catches up from nothing after a restart, woken by the join stream, and agrees again', async () => {
    const killed = servers.pop()!
    await killed.stop()
    const stream = new TestMemberStream()
    // Polls only every 10 minutes: after its first catch-up, only the stream's records wake it up.
    const fresh = await startServer('c2', { pollIntervalMs: 600_000, memberStream: stream })
    servers.push(fresh)
    let head = await waitForHead(servers)
    assertSameHashes(servers[0]!, fresh, head)

    const joiner = getAddress('0x00000000000000000000000000000000000abcde')
    await send(union, dataUnionAbi, 'addMember', [joiner, 7n])
    stream.push({ type: 'join', member: joiner, txHash: '0x01' })
    head = await waitForHead(servers)
    assertSameHashes(servers[0]!, fresh, head)
    const response = await fetch(`${fresh.baseUrl!}/dataunions/${union}/members/${joiner}`)
    const body = (await response.json()) as {
      member: { weight: string }
      lastRequest: { type: string } | null
      block: string
    }
    assert.equal(body.member.weight, '7')
    assert.equal(body.lastRequest?.type, 'join')
    assert.equal(body.block, head.toString())
    for (const server of servers) server.setPeers(servers.filter((s) => s !== server).map((s) => s.baseUrl!))
  })

  it('finds an instance fed a tampered revenue event: the others report it, and the SDK avoids it', async () => {
    let tampered = false
    const liar = await startServer('liar', {
      eventFilter: (event) => {
        if (event.type !== 'RevenueReceived' || tampered) return event
        tampered = true
        return { ...event, amount: event.amount + 1_000n }
      },
    })
    const head = await waitForHead([...servers, liar])
    assert.ok(tampered)
    assert.ok(liar.state(union)!.problems.some((p) => p.event === 'RevenueReceived'))
    assert.notEqual(liar.state(union)!.hashAt(head), servers[0]!.state(union)!.hashAt(head))

    const reports: DivergenceReport[] = []
    servers[0]!.on('divergence', (report) => reports.push(report))
    servers[0]!.setPeers([servers[1]!.baseUrl!, servers[2]!.baseUrl!, liar.baseUrl!])
    await servers[0]!.checkPeers()
    assert.deepEqual(
      reports.map((r) => [r.url, r.instance, r.block]),
      [[liar.baseUrl!, 'liar', head]],
    )
    const peers = (await (await fetch(`${servers[0]!.baseUrl!}/dataunions/${union}/peers`)).json()) as {
      comparisons: { instances: { instance: string; agrees: boolean }[] }[]
    }
    const latest = peers.comparisons.at(-1)!
    assert.deepEqual(
      latest.instances.filter((i) => !i.agrees).map((i) => i.instance),
      ['liar'],
    )

    // The liar, compared with the three, finds itself in the minority.
    const selfReports: DivergenceReport[] = []
    liar.on('divergence', (report) => selfReports.push(report))
    liar.setPeers(servers.map((s) => s.baseUrl!))
    await liar.checkPeers()
    assert.deepEqual(
      selfReports.map((r) => r.url),
      ['self'],
    )

    const client = new DataUnionStateClient({ urls: [liar.baseUrl!, ...servers.map((s) => s.baseUrl!)] })
    const diverged: DivergedInstance[] = []
    client.onDiverged((d) => diverged.push(d))
    const report = await client.checkConsistency(union)
    assert.deepEqual(
      report.diverged.map((d) => d.url),
      [liar.baseUrl!],
    )
    assert.deepEqual(
      diverged.map((d) => d.instance),
      ['liar'],
    )
    assert.equal(report.majorityHash, servers[0]!.state(union)!.hashAt(report.block))
    const member = await client.member(union, members[0]!)
    assert.notEqual(member.url, liar.baseUrl)
  })

  it('spreads SDK queries across the three and verifies member proofs against the majority hash', async () => {
    const client = new DataUnionStateClient({ urls: servers.map((s) => s.baseUrl!) })
    const before = servers.map((s) => s.queriesServed)
    const answeredBy = new Set<string>()
    for (const who of members.slice(0, 12)) {
      const answer = await client.member(union, who)
      answeredBy.add(answer.instance!)
      const verified = await client.verifiedMember(union, who)
      assert.equal(verified.earned, answer.value.earned)
      assert.ok(verified.confirmedBy.length >= 2)
    }
    const stats = await client.stats(union)
    assert.equal(stats.value.totalRevenue, servers[0]!.state(union)!.totals().totalRevenue)
    const page = await client.members(union, 0, 10)
    assert.equal(page.value.length, 10)
    assert.deepEqual([...answeredBy].sort(), ['a', 'b', 'c2'])
    servers.forEach((server, i) => assert.ok(server.queriesServed > before[i]!, `${server.instanceId} served queries`))
  })

  it("can't be fooled by one lying instance: another member's proof, a number past 2^256, a false 'never joined'", async () => {
    const honest = servers[0]!.baseUrl!
    const state = servers[0]!.state(union)!
    const known = members.filter((m) => state.member(m) !== undefined)
    const asked = known[0]!
    // The other member earned a different amount, so a swapped proof would show.
    const other = known.find((m) => state.member(m)!.earned !== state.member(asked)!.earned)!
    assert.ok(other !== undefined)
    let mode: 'swap' | 'overflow' | 'deny' = 'swap'
    // A real HTTP server that answers as the honest instance does, except for the asked member's proof.
    const liar = createServer((request, response) => {
      void (async () => {
        let path = request.url ?? '/'
        const isProof = path.toLowerCase() === `/dataunions/${union}/proof/${asked}`.toLowerCase()
        if (isProof && mode === 'deny') {
          response.writeHead(404, { 'content-type': 'application/json' })
          response.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'never joined' } }))
          return
        }
        if (isProof && mode === 'swap') path = `/dataunions/${union}/proof/${other}`
        let body = await (await fetch(`${honest}${path}`)).text()
        if (isProof && mode === 'overflow') {
          const json = JSON.parse(body) as { proof: { record: { settledScaled: string } } }
          json.proof.record.settledScaled = (BigInt(json.proof.record.settledScaled) + 2n ** 256n).toString()
          body = JSON.stringify(json)
        }
        response.writeHead(200, { 'content-type': 'application/json', [INSTANCE_HEADER]: 'liar' })
        response.end(body)
      })()
    })
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve))
    try {
      const liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`
      const truth = await new DataUnionStateClient({ urls: [honest] }).verifiedMember(union, asked)
      for (const next of ['swap', 'overflow', 'deny'] as const) {
        mode = next
        const client = new DataUnionStateClient({ urls: [liarUrl, servers[1]!.baseUrl!, servers[2]!.baseUrl!] })
        // Three asks: round-robin starts each at another instance, the liar among them.
        for (let i = 0; i < 3; i++) {
          const verified = await client.verifiedMember(union, asked)
          assert.equal(verified.proof.record.member.toLowerCase(), asked.toLowerCase(), mode)
          assert.equal(verified.earned, truth.earned, mode)
        }
      }
    } finally {
      liar.closeAllConnections()
      await new Promise((resolve) => liar.close(resolve))
    }
  })

  it('answers bad input with a typed 400 or 404 and keeps serving', async () => {
    const base = servers[0]!.baseUrl!
    const stranger = '0x000000000000000000000000000000000000dEaD'
    const probes: [string, number, string][] = [
      ['/dataunions/not-an-address/head', 400, 'BAD_REQUEST'],
      [`/dataunions/${stranger}/head`, 404, 'NOT_FOUND'],
      [`/dataunions/${union}/hash/abc`, 400, 'BAD_REQUEST'],
      [`/dataunions/${union}/hash/99999999999`, 404, 'NOT_FOUND'],
      [`/dataunions/${union}/hash/-1`, 400, 'BAD_REQUEST'],
      [`/dataunions/${union}/members/0x1234`, 400, 'BAD_REQUEST'],
      [`/dataunions/${union}/members/${stranger}`, 404, 'NOT_FOUND'],
      [`/dataunions/${union}/proof/${stranger}`, 404, 'NOT_FOUND'],
      [`/dataunions/${union}/members?limit=100000`, 400, 'BAD_REQUEST'],
      [`/dataunions/${union}/members?offset=-3`, 400, 'BAD_REQUEST'],
      [`/dataunions/${union}/history?fromBlock=x`, 400, 'BAD_REQUEST'],
      ['/dataunions/%ff%fe/stats', 400, 'BAD_REQUEST'],
      ['/no/such/endpoint', 400, 'BAD_REQUEST'],
    ]
    for (const [path, status, code] of probes) {
      const response = await fetch(`${base}${path}`)
      const body = (await response.json()) as { error?: { code: string; message: string } }
      assert.equal(response.status, status, `${path}: ${JSON.stringify(body)}`)
      assert.equal(body.error?.code, code, path)
      assert.equal(response.headers.get(INSTANCE_HEADER), 'a')
    }
    const history = (await (
      await fetch(`${base}/dataunions/${union}/history?fromBlock=${fromBlock}&limit=5`)
    ).json()) as {
      snapshots: { block: string }[]
    }
    assert.equal(history.snapshots[0]?.block, fromBlock.toString())
    assert.equal((await fetch(`${base}/health`)).status, 200)
  })

  it('follows two unions through an endpoint that returns every log twice and a range that fails part way', async () => {
    const { address: second, block: created } = await createUnion(500, 'second union')
    const twice: ChainLogSource = {
      getBlockNumber: (args) => dev.publicClient.getBlockNumber(args),
      getLogs: (async (args: Parameters<ChainLogSource['getLogs']>[0]) => {
        const logs = await dev.publicClient.getLogs(args)
        return [...logs, ...logs]
      }) as ChainLogSource['getLogs'],
    }
    // The second union is applied after the first: its first event failing once leaves the first union's range
    // committed and the second's not, which the retry must carry on from.
    let failed = false
    const follower = new UnionFollower(
      [union, second],
      twice,
      { fromBlock, blockRange: 100_000n, confirmations: 0n, historyBlocks: 100_000 },
      (event) => {
        if (!failed && event.blockNumber === created) {
          failed = true
          throw new Error('injected failure')
        }
        return event
      },
    )
    await assert.rejects(follower.sync(), /injected failure/)
    const { block } = await follower.sync()
    // The reference polls the chain (the restarted instance only wakes on its stream's records).
    const head = await waitForHead([servers[0]!])
    assert.ok(block !== undefined && block >= created)
    const reference = servers[0]!.state(union)!
    const followed = follower.state(union)!
    for (let at = fromBlock; at <= block && at <= head; at++) {
      assert.equal(followed.hashAt(at), reference.hashAt(at), `the first union's hash at block ${at}`)
    }
    assert.equal(followed.stats().eventsApplied, reference.stats().eventsApplied)
    const stats = follower.state(second)!.stats()
    assert.equal(stats.adminFeeBps, 500)
    assert.ok(stats.eventsApplied >= 1)
    assert.equal(follower.eventsApplied, followed.stats().eventsApplied + stats.eventsApplied)
  })
})
