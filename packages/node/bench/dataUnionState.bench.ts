// Data Union state servers: how fast an instance applies a union's events (a replay from the chain, from nothing),
// and how many queries per second 1 and 3 instances answer through the SDK's round-robin client.
//
// Environment: BENCH_DU_EVENTS (events put on chain, default 3000), BENCH_DU_QUERIES (queries per run, default
// 3000), BENCH_DU_CONCURRENCY (queries in flight, default 16).
import { performance } from 'node:perf_hooks'
import { dataUnionAbi, dataUnionFactoryAbi, runnelTokenAbi } from '@runnel/chain'
import { DataUnionStateClient } from '@runnel/client'
import { startDevChain } from '@runnel/dev-chain'
import { getAddress, parseEventLogs, type Abi, type Address } from 'viem'
import { DataUnionStateServer } from '../src/index.js'

const EVENTS = Number(process.env.BENCH_DU_EVENTS ?? 3_000)
const QUERIES = Number(process.env.BENCH_DU_QUERIES ?? 3_000)
const CONCURRENCY = Number(process.env.BENCH_DU_CONCURRENCY ?? 16)
const BATCH = 100

const dev = await startDevChain()
const servers: DataUnionStateServer[] = []
try {
  const wallet = dev.walletFor(0)
  const send = async (address: Address, abi: Abi, functionName: string, args: readonly unknown[]): Promise<void> => {
    const hash = await wallet.writeContract({ address, abi, functionName, args })
    await dev.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 5 })
  }
  const created = await wallet.writeContract({
    address: dev.deployment.market.dataUnionFactory,
    abi: dataUnionFactoryAbi,
    functionName: 'createDataUnion',
    args: [dev.deployment.incentives.token, 500, [], 'bench'],
  })
  const receipt = await dev.publicClient.waitForTransactionReceipt({ hash: created })
  const [log] = parseEventLogs({ abi: dataUnionFactoryAbi, logs: receipt.logs, eventName: 'DataUnionCreated' })
  const union = getAddress(log!.args.dataUnion)
  const fromBlock = receipt.blockNumber

  // Mostly joins in batches of 100 (cheap to put on chain), with a revenue after each batch and weight changes.
  const members: Address[] = []
  let events = 0
  const putStarted = performance.now()
  while (events < EVENTS) {
    const batch = Array.from({ length: BATCH }, (_, i) =>
      getAddress(`0x${(0x10_0000 + members.length + i).toString(16).padStart(40, '0')}`),
    )
    await send(union, dataUnionAbi, 'addMembers', [batch, batch.map((_, i) => BigInt(1 + (i % 7)))])
    members.push(...batch)
    await send(dev.deployment.incentives.token, runnelTokenAbi, 'mint', [union, 10n ** 21n + BigInt(events)])
    await send(union, dataUnionAbi, 'refreshRevenue', [])
    for (let i = 0; i < 5; i++)
      await send(union, dataUnionAbi, 'setMemberWeight', [members[events % members.length]!, 3n + BigInt(i)])
    events += BATCH + 6
  }
  const head = await dev.publicClient.getBlockNumber()
  console.log(
    `put ${events} events for ${members.length} members on chain in ${((performance.now() - putStarted) / 1000).toFixed(1)} s (blocks ${fromBlock}–${head})`,
  )

  const rows: string[][] = []
  // Replay from nothing: reading the logs and applying them (every block committed and hashed).
  for (let run = 0; run < 2; run++) {
    const server = new DataUnionStateServer({ dataUnions: [union], fromBlock }, { publicClient: dev.publicClient })
    const started = performance.now()
    await server.sync()
    const seconds = (performance.now() - started) / 1000
    rows.push([
      `replay from the chain #${run + 1}`,
      `${server.eventsApplied} events`,
      rate(server.eventsApplied / seconds, 'events/s'),
      `${(seconds * 1000).toFixed(0)} ms`,
    ])
  }
  // Applying alone, without the chain: the reducer's own speed on the same events.
  {
    const server = new DataUnionStateServer({ dataUnions: [union], fromBlock }, { publicClient: dev.publicClient })
    await server.sync()
    const { DataUnionState, toDataUnionEvent } = await import('@runnel/chain')
    const logs = await dev.publicClient.getLogs({
      address: union,
      events: dataUnionAbi.filter((x) => x.type === 'event'),
      fromBlock,
      toBlock: head,
    })
    const decoded = logs
      .map((l) => toDataUnionEvent(l as unknown as Parameters<typeof toDataUnionEvent>[0])!)
      .filter((e) => e !== undefined)
    const state = new DataUnionState(union)
    const started = performance.now()
    let next = 0
    for (let block = fromBlock; block <= head; block++) {
      while (next < decoded.length && decoded[next]!.blockNumber === block) state.apply(decoded[next++]!)
      state.commit(block)
    }
    const seconds = (performance.now() - started) / 1000
    rows.push([
      'apply + hash per block (no I/O)',
      `${decoded.length} events`,
      rate(decoded.length / seconds, 'events/s'),
      `${(seconds * 1000).toFixed(0)} ms`,
    ])
  }

  for (let i = 0; i < 3; i++) {
    const server = new DataUnionStateServer(
      { dataUnions: [union], fromBlock, instanceId: `bench-${i}` },
      { publicClient: dev.publicClient },
    )
    await server.start()
    await server.sync()
    servers.push(server)
  }
  for (const count of [1, 3]) {
    const client = new DataUnionStateClient({ urls: servers.slice(0, count).map((s) => s.baseUrl!) })
    for (const [label, query] of [
      ['member', (i: number) => client.member(union, members[i % members.length]!)],
      [
        'verified member (proof + hash check)',
        (i: number) => client.verifiedMember(union, members[i % members.length]!),
      ],
    ] as const) {
      const total = label === 'member' ? QUERIES : Math.round(QUERIES / 3)
      await runQueries(Math.min(200, total), query) // warm-up
      const started = performance.now()
      await runQueries(total, query)
      const seconds = (performance.now() - started) / 1000
      rows.push([
        `${label}, ${count} instance${count > 1 ? 's' : ''}`,
        `${total} queries`,
        rate(total / seconds, 'queries/s'),
        `${(seconds * 1000).toFixed(0)} ms`,
      ])
    }
  }
  printTable(['run', 'size', 'throughput', 'time'], rows)
  console.log(
    `(${CONCURRENCY} queries in flight, client and servers in one process on ${(await import('node:os')).cpus().length} cores)`,
  )
} finally {
  for (const server of servers) await server.stop()
  await dev.stop()
}

async function runQueries(total: number, query: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) await query(next++)
    }),
  )
}

function rate(value: number, unit: string): string {
  return `${Math.round(value).toLocaleString('en-US')} ${unit}`
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(line(header))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const row of rows) console.log(line(row))
}
