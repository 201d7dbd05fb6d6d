import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generatePrivateKey } from '@runnel/protocol'
import {
  describeResult,
  devArguments,
  devNetworkEnv,
  runCliProcess,
  startCli,
  type CliProcess,
  type CliResult,
} from './helpers.js'

interface DevInfo {
  rpcUrl: string
  discovery: string
  trackerUrl?: string
  entryPointUrl?: string
  devPrivateKey: string
  devAddress: string
  demoStreamId: string
  storageUrl: string
}

interface PrintedMessage {
  content: unknown
  metadata: {
    streamId: string
    partition: number
    timestamp: number
    sequenceNumber: number
    publisherId: string
    msgChainId: string
    contentType: string
  }
}

interface StorageNodeList {
  id: string
  storageNodes: { address: string; url: string | null; metadata: Record<string, unknown> | null }[]
}

const WAIT_MS = 60_000

/** Not a node's metrics stream (`runnel dev`'s storage node keeps those too, as each node creates its own). */
const notMetrics = (streamId: string): boolean => !streamId.endsWith('/runnel/metrics')

/** Polls `check` until it holds, or fails naming `what` after `WAIT_MS`. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** The JSON lines of a command's stdout. */
function jsonLines<T = unknown>(result: CliResult): T[] {
  const text = result.stdout.trim()
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as T)
}

/** A TCP port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('runnel resend and runnel storage-node, against runnel dev', () => {
  let home: string
  let dev: CliProcess
  let info: DevInfo
  /** Acting as the dev key, which owns the demo stream. */
  let env: Record<string, string>
  /** No key: publish acts as a fresh random key. */
  let keyless: Record<string, string>
  /** The dev network's storage node (from `storage-node list`). */
  let storageAddress: string

  const runnel = async (args: string[], as: Record<string, string> = env, stdin = ''): Promise<CliResult> =>
    runCliProcess(args, as, stdin)
  const ok = async (args: string[], as: Record<string, string> = env, stdin = ''): Promise<CliResult> => {
    const result = await runnel(args, as, stdin)
    assert.equal(result.code, 0, `runnel ${args.join(' ')}: ${describeResult(result)}`)
    return result
  }
  const contents = (result: CliResult): unknown[] => jsonLines(result)

  /** Whether the dev storage node has at least `count` messages of the stream part (its NDJSON history API). */
  const stored = async (streamId: string, partition: number, count: number): Promise<boolean> => {
    const response = await fetch(
      `${info.storageUrl}/streams/${encodeURIComponent(streamId)}/data/partitions/${partition}/last?count=${count}`,
    )
    if (!response.ok) return false
    return (
      (await response.text())
        .trim()
        .split('\n')
        .filter((line) => line !== '').length >= count
    )
  }

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'runnel-storage-home-'))
    // It serves the whole suite: the default timeout of one command is too short.
    dev = startCli(devArguments(), { RUNNEL_HOME: home }, undefined, { timeoutMs: 900_000 })
    info = JSON.parse(await dev.waitForLine('stdout', /^\{/)) as DevInfo
    keyless = { RUNNEL_HOME: home, RUNNEL_RPC_URL: info.rpcUrl, ...devNetworkEnv(info) }
    env = { ...keyless, RUNNEL_PRIVATE_KEY: info.devPrivateKey }
  })
  after(async () => {
    dev.child.kill('SIGKILL')
    await rm(home, { recursive: true, force: true })
  })

  it("lists the demo stream's storage node with its URL, and shows what it stores", async () => {
    const listed = JSON.parse(
      (await ok(['storage-node', 'list', info.demoStreamId, '--json'])).stdout,
    ) as StorageNodeList
    assert.equal(listed.id, info.demoStreamId)
    assert.equal(listed.storageNodes.length, 1)
    const [node] = listed.storageNodes
    assert.match(node!.address, /^0x[0-9a-f]{40}$/)
    assert.equal(node!.url, info.storageUrl)
    assert.deepEqual(node!.metadata, { http: info.storageUrl })
    storageAddress = node!.address

    // Reading needs no key.
    const text = await ok(['storage-node', 'list', info.demoStreamId], keyless)
    assert.equal(text.stdout, `${storageAddress}  ${info.storageUrl}\n`)

    const shown = JSON.parse((await ok(['storage-node', 'show', storageAddress, '--json'], keyless)).stdout) as {
      address: string
      metadata: Record<string, unknown>
      streams: string[]
    }
    // Besides the demo stream, it keeps each dev node's metrics stream, assigned as each is created.
    assert.deepEqual(
      { ...shown, streams: shown.streams.filter(notMetrics) },
      { address: storageAddress, metadata: { http: info.storageUrl }, streams: [info.demoStreamId] },
    )
    const shownText = await ok(['storage-node', 'show', storageAddress], keyless)
    assert.equal(
      shownText.stdout
        .split('\n')
        .filter((line) => notMetrics(line.trim()))
        .join('\n'),
      `${storageAddress}\n  http     ${info.storageUrl}\n  streams  ${info.demoStreamId}\n`,
    )
  })

  it('resends the last n, from a point and a range of the stored demo stream, filtered by publisher and chain', async () => {
    const demo = info.demoStreamId
    // Two publishers (the dev key, then a random one), each publish a message chain of its own.
    // Stored acks: each publisher re-offers what no storage receipt covers, so the history is whole however the
    // overlay formed around a process that lives for one command.
    const storedAck = ['--ack', 'stored', '--ack-timeout', '60000']
    const fromDev = await ok(['publish', demo, ...storedAck], env, '{"n":1}\n{"n":2}\n{"n":3}\n')
    const fromKeyless = await ok(['publish', demo, ...storedAck], keyless, '{"n":4}\n{"n":5}\n')
    await waitUntil(
      `the storage node has the 5 messages (the publishers said: ${JSON.stringify(fromDev.stderr)}, ${JSON.stringify(fromKeyless.stderr)})`,
      () => stored(demo, 0, 5),
    )

    const last = await ok(['resend', 'last', demo, '5'], keyless)
    assert.deepEqual(contents(last), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }])
    assert.match(last.stderr, new RegExp(`resent 5 message\\(s\\) of ${demo}`))
    assert.deepEqual(contents(await ok(['resend', 'last', demo, '2', '--partition', '0'], keyless)), [
      { n: 4 },
      { n: 5 },
    ])

    const printed = jsonLines<PrintedMessage>(await ok(['resend', 'last', demo, '5', '--metadata'], keyless))
    assert.deepEqual(
      printed.map((message) => message.content),
      [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }],
    )
    for (const message of printed) {
      assert.equal(message.metadata.streamId, demo)
      assert.equal(message.metadata.partition, 0)
      assert.equal(message.metadata.contentType, 'json')
    }
    const [first, second, third, fourth] = printed.map((message) => message.metadata)
    assert.equal(first!.publisherId, info.devAddress)
    assert.notEqual(fourth!.publisherId, info.devAddress)
    assert.notEqual(first!.msgChainId, fourth!.msgChainId)
    const ref = (metadata: PrintedMessage['metadata']): string => `${metadata.timestamp}:${metadata.sequenceNumber}`

    // from: timestamp:sequence, milliseconds, ISO-8601.
    assert.deepEqual(contents(await ok(['resend', 'from', demo, ref(third!)], keyless)), [{ n: 3 }, { n: 4 }, { n: 5 }])
    assert.deepEqual(contents(await ok(['resend', 'from', demo, String(first!.timestamp)], keyless)), [
      { n: 1 },
      { n: 2 },
      { n: 3 },
      { n: 4 },
      { n: 5 },
    ])
    const anHourAgo = new Date(Date.now() - 3_600_000).toISOString()
    assert.equal(contents(await ok(['resend', 'from', demo, anHourAgo], keyless)).length, 5)

    // range: both ends inclusive; an old day has nothing.
    assert.deepEqual(contents(await ok(['resend', 'range', demo, ref(second!), ref(fourth!)], keyless)), [
      { n: 2 },
      { n: 3 },
      { n: 4 },
    ])
    const empty = await ok(['resend', 'range', demo, '2001-01-01', '2001-01-02T00:00:00Z'], keyless)
    assert.equal(empty.stdout, '')
    assert.match(empty.stderr, /resent 0 message\(s\)/)

    // Filters.
    assert.deepEqual(contents(await ok(['resend', 'from', demo, anHourAgo, '--publisher', info.devAddress], keyless)), [
      { n: 1 },
      { n: 2 },
      { n: 3 },
    ])
    assert.deepEqual(
      contents(await ok(['resend', 'from', demo, anHourAgo, '--msg-chain-id', fourth!.msgChainId], keyless)),
      [{ n: 4 }, { n: 5 }],
    )
    assert.deepEqual(
      contents(
        await ok(
          [
            'resend',
            'range',
            demo,
            ref(first!),
            ref(fourth!),
            '--publisher',
            fourth!.publisherId,
            '--msg-chain-id',
            fourth!.msgChainId,
          ],
          keyless,
        ),
      ),
      [{ n: 4 }],
    )
  })

  it('subscribes with --resend-last: the stored history, then live messages', async () => {
    const demo = info.demoStreamId
    await ok(['publish', demo, '--ack', 'stored', '--ack-timeout', '60000'], env, '{"history":1}\n{"history":2}\n')
    await waitUntil('the storage node has them', async () => {
      const last = await runnel(['resend', 'last', demo, '2'], keyless)
      return last.code === 0 && last.stdout === '{"history":1}\n{"history":2}\n'
    })
    const subscriber = startCli(['subscribe', demo, '--resend-last', '2', '--count', '3'], keyless)
    await subscriber.waitForLine('stdout', /^\{"history":2\}$/)
    await ok(['publish', demo], env, '{"live":3}\n')
    const result = await subscriber.result
    assert.equal(result.code, 0, describeResult(result))
    assert.deepEqual(jsonLines(result), [{ history: 1 }, { history: 2 }, { live: 3 }])

    const both = await runnel(['subscribe', demo, '--resend-last', '2', '--resend-from', '0'], keyless)
    assert.equal(both.code, 2, describeResult(both))
    assert.match(both.stderr, /cannot be used with option '--resend-from/)
  })

  it('publishes with --ack stored: exits 0 only once the storage node confirmed every message, so history has them at once', async () => {
    const demo = info.demoStreamId
    const published = await ok(
      ['publish', demo, '--ack', 'stored', '--ack-timeout', '30000'],
      env,
      '{"acked":1}\n{"acked":2}\n',
    )
    assert.match(published.stderr, /published 2 message\(s\)/)
    // No waiting: stored means committed.
    assert.deepEqual(contents(await ok(['resend', 'last', demo, '2'], keyless)), [{ acked: 1 }, { acked: 2 }])
    const bad = await runnel(['publish', demo, '--ack', 'later'], env, '{"acked":3}\n')
    assert.equal(bad.code, 2, describeResult(bad))
    assert.match(bad.stderr, /--ack <level>' argument 'later' is invalid\. Allowed choices are accepted, stored/)
  })

  it('stores a new stream once it is added to the storage node, resends it per partition, and stops when removed', async () => {
    const created = JSON.parse(
      (await ok(['stream', 'create', '/cli/history', '--partitions', '2', '--json'])).stdout,
    ) as {
      id: string
    }
    const id = created.id
    // Public, so published in the clear: this is about storage, not encryption.
    await ok(['stream', 'grant', id, 'public', 'subscribe'])
    assert.equal(
      jsonLines<StorageNodeList>(await ok(['storage-node', 'list', id, '--json']))[0]!.storageNodes.length,
      0,
    )

    const added = await ok(['storage-node', 'add-stream', '/cli/history', storageAddress])
    assert.equal(added.stdout, `added ${id} to storage node ${storageAddress}\n`)
    const listed = JSON.parse((await ok(['storage-node', 'list', id, '--json'])).stdout) as StorageNodeList
    assert.deepEqual(
      listed.storageNodes.map((node) => [node.address, node.url]),
      [[storageAddress, info.storageUrl]],
    )
    const again = await runnel(['storage-node', 'add-stream', id, storageAddress])
    assert.equal(again.code, 3, describeResult(again))
    assert.match(again.stderr, /ALREADY_ASSIGNED/)

    // The node starts storing once it has seen the assignment and joined the stream: publish until it keeps one.
    for (const partition of [0, 1]) {
      const deadline = Date.now() + WAIT_MS
      for (let attempt = 1; !(await stored(id, partition, 1)); attempt++) {
        assert.ok(Date.now() < deadline, `the storage node stores partition ${partition}`)
        await ok(['publish', id, '--partition', String(partition)], env, `{"warmup":${attempt}}\n`)
        await waitUntil(`warm-up ${attempt} is stored`, () => stored(id, partition, 1), 5_000).catch(() => undefined)
      }
    }
    // Acked once stored: a one-shot publisher's message is re-offered to the storage node until it is kept (in dht
    // mode a plain publish reached a relay and exited before the storage node had it, once in CI).
    for (const partition of [0, 1]) {
      await ok(
        ['publish', id, '--partition', String(partition), '--ack', 'stored', '--ack-timeout', '30000'],
        env,
        `{"p":${partition}}\n`,
      )
    }
    await waitUntil('both messages are stored', async () => {
      const last = await runnel(['resend', 'last', id, '1'])
      return last.code === 0 && last.stdout === '{"p":0}\n{"p":1}\n'
    })
    // Every partition in turn, or one.
    assert.deepEqual(contents(await ok(['resend', 'last', '/cli/history', '1'])), [{ p: 0 }, { p: 1 }])
    assert.deepEqual(contents(await ok(['resend', 'last', id, '1', '--partition', '1'])), [{ p: 1 }])
    const shown = JSON.parse((await ok(['storage-node', 'show', storageAddress, '--json'])).stdout) as {
      streams: string[]
    }
    assert.deepEqual(shown.streams.filter(notMetrics).sort(), [info.demoStreamId, id].sort())

    const removed = await ok(['storage-node', 'remove-stream', id, storageAddress, '--json'])
    assert.deepEqual(JSON.parse(removed.stdout), { id, node: storageAddress, removed: true })
    const none = await ok(['storage-node', 'list', id])
    assert.equal(none.stdout, '')
    assert.match(none.stderr, new RegExp(`no storage node stores ${id}`))
    assert.deepEqual(JSON.parse((await ok(['storage-node', 'list', id, '--json'])).stdout), { id, storageNodes: [] })
    const notAssigned = await runnel(['storage-node', 'remove-stream', id, storageAddress])
    assert.equal(notAssigned.code, 3, describeResult(notAssigned))

    // Without a storage node there is no history: exit 6, saying how to assign one.
    const resend = await runnel(['resend', 'last', id, '1'])
    assert.equal(resend.code, 6, describeResult(resend))
    assert.equal(resend.stdout, '')
    assert.match(
      resend.stderr,
      new RegExp(
        `^runnel: STORAGE_UNAVAILABLE: no storage node stores ${id}.*runnel storage-node add-stream ${id} <node address>`,
      ),
    )
  })

  it('registers a storage node, and resend exits 6 when it cannot be reached; unregister removes it', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const registered = JSON.parse((await ok(['storage-node', 'register', `${url}/`, '--json'])).stdout) as {
      address: string
      metadata: Record<string, unknown>
    }
    assert.deepEqual(registered, { address: info.devAddress, metadata: { http: url }, registered: true })
    const { id } = JSON.parse((await ok(['stream', 'create', '/cli/unreachable', '--json'])).stdout) as { id: string }
    await ok(['storage-node', 'add-stream', id, info.devAddress])

    const shown = await ok(['storage-node', 'show'])
    assert.equal(shown.stdout, `${info.devAddress}\n  http     ${url}\n  streams  ${id}\n`)

    const resend = await runnel(['resend', 'from', id, '0'], keyless)
    assert.equal(resend.code, 6, describeResult(resend))
    assert.match(resend.stderr, /^runnel: STORAGE_UNAVAILABLE: no storage node of .* could answer/)
    assert.match(resend.stderr, new RegExp(url.replace(/[.]/g, '\\.')))

    assert.equal((await ok(['storage-node', 'unregister'])).stdout, `unregistered storage node ${info.devAddress}\n`)
    const gone = await runnel(['storage-node', 'show'])
    assert.equal(gone.code, 4, describeResult(gone))
    assert.match(gone.stderr, /is not a registered storage node/)
    const twice = await runnel(['storage-node', 'unregister'])
    assert.equal(twice.code, 4, describeResult(twice))
  })

  it('exits with the code of each mistake', async () => {
    const demo = info.demoStreamId
    const stranger = { ...keyless, RUNNEL_PRIVATE_KEY: generatePrivateKey() }
    const [badFrom, badRange, badPublisher, badPartition, missing, notRegistered, notEditor, noKey, badUrl] =
      await Promise.all([
        runnel(['resend', 'from', demo, 'yesterday'], keyless),
        runnel(['resend', 'range', demo, '2025-06-02', '2025-06-01'], keyless),
        runnel(['resend', 'from', demo, '0', '--publisher', '0x123'], keyless),
        runnel(['resend', 'last', demo, '1', '--partition', '3'], keyless),
        runnel(['resend', 'last', `${info.devAddress}/no/such/stream`, '1'], keyless),
        runnel(['storage-node', 'add-stream', demo, '0x0000000000000000000000000000000000000001']),
        runnel(['storage-node', 'add-stream', demo, storageAddress], stranger),
        runnel(['storage-node', 'register', 'http://127.0.0.1:7172'], keyless),
        runnel(['storage-node', 'register', 'storage.example.org'], keyless),
      ])
    assert.equal(badFrom.code, 2, describeResult(badFrom))
    assert.match(badFrom.stderr, /^runnel: .*'yesterday' is invalid .*expected milliseconds since 1970/)
    assert.equal(badRange.code, 2, describeResult(badRange))
    assert.match(badRange.stderr, /<to> .* comes before <from>/)
    assert.equal(badPublisher.code, 3, describeResult(badPublisher))
    assert.equal(badPartition.code, 3, describeResult(badPartition))
    assert.match(badPartition.stderr, /partition 3 is out of range/)
    assert.equal(missing.code, 4, describeResult(missing))
    assert.equal(notRegistered.code, 4, describeResult(notRegistered))
    assert.match(notRegistered.stderr, /is not a registered storage node/)
    assert.equal(notEditor.code, 5, describeResult(notEditor))
    assert.equal(noKey.code, 3, describeResult(noKey))
    assert.match(noKey.stderr, /registering a storage node needs a private key/)
    assert.equal(badUrl.code, 2, describeResult(badUrl))
  })

  it('stops runnel dev on SIGINT, exiting 0', async () => {
    dev.child.kill('SIGINT')
    const result = await dev.result
    assert.equal(result.code, 0, describeResult(result))
  })
})
