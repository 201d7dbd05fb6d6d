import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { describeResult, devArguments, devNetworkEnv, runCliProcess, startCli } from './helpers.js'

const WAIT_MS = 60_000

/** `promise`, or a failure naming `what` (and what `seen` says was seen) after {@link WAIT_MS}. */
async function within<T>(promise: Promise<T>, what: string, seen: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}${seen()}`)), WAIT_MS)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

describe('runnel dev', () => {
  it('starts a local network; the CLI publishes, mosquitto_sub receives, history is kept; Ctrl-C stops all of it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'runnel-dev-home-'))
    after(() => rm(home, { recursive: true, force: true }))
    const dev = startCli(devArguments(), { RUNNEL_HOME: home })
    after(() => dev.child.kill('SIGKILL'))
    const info = JSON.parse(await dev.waitForLine('stdout', /^\{/)) as {
      rpcUrl: string
      discovery: string
      trackerUrl?: string
      entryPointUrl?: string
      endpoints: { mqtt: string; http: string }
      demoStreamId: string
      storageUrl: string
    }
    const env = { RUNNEL_HOME: home, RUNNEL_RPC_URL: info.rpcUrl, ...devNetworkEnv(info) }

    const subscriber = spawn('stdbuf', [
      '-oL',
      'mosquitto_sub',
      '-d',
      '-h',
      '127.0.0.1',
      '-p',
      new URL(info.endpoints.mqtt).port,
      '-t',
      info.demoStreamId,
      '-C',
      '2',
    ])
    after(() => subscriber.kill())
    const lines: string[] = []
    const subscribed = new Promise<void>((resolve) =>
      createInterface({ input: subscriber.stdout }).on('line', (line) => {
        if (line.includes('received SUBACK')) resolve()
        else if (line.startsWith('{')) lines.push(line)
      }),
    )
    const exited = new Promise<number | null>((resolve) => subscriber.once('exit', resolve))
    // mosquitto_sub waits (and reconnects) for ever: a lost message must fail the test, not hang it.
    await within(subscribed, 'mosquitto_sub to be subscribed')

    const published = await runCliProcess(['publish', info.demoStreamId], env, '{"n":1}\n{"n":2}\n')
    assert.equal(published.code, 0, describeResult(published))
    assert.equal(
      await within(exited, 'mosquitto_sub to receive both messages', () => `; received: ${JSON.stringify(lines)}`),
      0,
    )
    assert.deepEqual(
      lines.map((line) => JSON.parse(line) as unknown),
      [{ n: 1 }, { n: 2 }],
    )

    // The dev network's storage node kept them.
    const history = await fetch(
      `${info.storageUrl}/streams/${encodeURIComponent(info.demoStreamId)}/data/partitions/0/last?count=2`,
    )
    const stored = (await history.text())
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { content: unknown }).content)
    assert.deepEqual(stored, [{ n: 1 }, { n: 2 }])

    dev.child.kill('SIGINT')
    const result = await dev.result
    assert.equal(result.code, 0, describeResult(result))
    assert.match(result.stderr, /stopped/)
    // Every port it listened on is free again.
    const refused = await fetch(`${info.endpoints.http}/health`).then(
      () => false,
      () => true,
    )
    assert.ok(refused, 'the HTTP API is down')
  })
})
