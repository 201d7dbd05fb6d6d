import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { addressFromPrivateKey } from '@runnel/protocol'
import { describeResult, runCliProcess, startCli, startLocalNetwork, type LocalNetwork } from './helpers.js'

/** Resolves once a TCP connection to the URL's host and port opens. */
function canConnect(url: string): Promise<void> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      socket.end()
      resolve()
    })
    socket.once('error', reject)
  })
}

describe('runnel tracker and runnel node', () => {
  let network: LocalNetwork
  before(async () => {
    network = await startLocalNetwork()
  })
  after(() => network.stop())

  it('tracker prints its URL, accepts connections, and exits 0 on SIGTERM', async () => {
    const tracker = startCli(['tracker', '--port', '0', '--json'], {})
    const line = await tracker.waitForLine('stdout', /^\{/)
    const { urls, nodeId } = JSON.parse(line) as { urls: string[]; nodeId: string }
    assert.match(urls[0]!, /^ws:\/\/127\.0\.0\.1:\d+$/)
    assert.match(nodeId, /^0x[0-9a-f]{40}$/)
    await canConnect(urls[0]!)
    await tracker.waitForLine('stderr', /running; Ctrl-C to stop/)
    tracker.child.kill('SIGTERM')
    const result = await tracker.result
    assert.equal(result.code, 0, describeResult(result))
    assert.match(result.stderr, /tracker stopped\n$/)
  })

  it('explorer serves the explorer for the network of a config file, and exits 0 on SIGTERM', async () => {
    const config = join(network.dir, 'explorer-network.json')
    await writeFile(
      config,
      JSON.stringify({
        rpcUrl: network.rpcUrl,
        ...(network.discovery.discovery === 'dht'
          ? { discovery: 'dht', entryPoints: network.discovery.entryPoints }
          : { trackers: network.trackers }),
        contracts: {
          streamRegistry: network.dev.deployment.streamRegistry,
          storageNodeRegistry: network.dev.deployment.storageNodeRegistry,
        },
      }),
    )
    const explorer = startCli(['explorer', '--network', config, '--port', '0', '--json'], {})
    const { url } = JSON.parse(await explorer.waitForLine('stdout', /^\{/)) as { url: string }
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    const page = await fetch(url)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /Runnel Explorer/)
    const overview = (await (await fetch(`${url}api/overview`)).json()) as { totals: { streams: number } }
    assert.ok(overview.totals.streams >= 0)
    const unknown = await fetch(`${url}api/streams/${encodeURIComponent('0x' + '1'.repeat(40) + '/nothing')}`)
    assert.equal(unknown.status, 404)
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'STREAM_NOT_FOUND')
    explorer.child.kill('SIGTERM')
    const result = await explorer.result
    assert.equal(result.code, 0, describeResult(result))
    assert.match(result.stderr, /explorer stopped\n$/)

    const badConfig = await runCliProcess(['explorer', '--network', join(network.dir, 'nope.json')], {})
    assert.equal(badConfig.code, 3, describeResult(badConfig))
    assert.match(badConfig.stderr, /can't read config file /)
  })

  it('node exits 3 for an invalid config file, naming the bad key', async () => {
    const config = join(network.dir, 'bad-node.json')
    await writeFile(config, JSON.stringify({ plugins: { http: { port: 'seven' } }, log: { level: 'silent' } }))
    const result = await runCliProcess(['node', '--config', config], {})
    assert.equal(result.code, 3, describeResult(result))
    assert.match(result.stderr, /^runnel: INVALID_CONFIG: .*bad-node\.json is invalid:\n {2}plugins\.http\.port: /)

    const missing = await runCliProcess(['node', '--config', join(network.dir, 'missing.json')], {})
    assert.equal(missing.code, 3, describeResult(missing))
    assert.match(missing.stderr, /^runnel: INVALID_CONFIG: can't read config file /)

    const badKey = await runCliProcess(['node', '--config', config, '--private-key', 'nope'], {})
    assert.equal(badKey.code, 3, describeResult(badKey))
  })

  it('node starts the APIs of its config, answers GET /health, and exits 0 on SIGTERM', async () => {
    const config = join(network.dir, 'node.json')
    await writeFile(
      config,
      JSON.stringify({
        privateKey: network.dev.chain.accountKeys[4],
        network: network.discovery,
        chain: {
          rpcUrl: network.rpcUrl,
          contracts: {
            streamRegistry: network.dev.deployment.streamRegistry,
            storageNodeRegistry: network.dev.deployment.storageNodeRegistry,
          },
        },
        // Only HTTP: the other plugins are being written elsewhere.
        plugins: { http: { port: 0 } },
        log: { level: 'warn' },
      }),
    )
    const overridingKey = network.dev.chain.accountKeys[5]!
    const node = startCli(['node', '--config', config, '--private-key', overridingKey], {})
    const started = await node.waitForLine('stdout', /^node 0x[0-9a-f]{40} started$/)
    assert.equal(started, `node ${addressFromPrivateKey(overridingKey)} started`, '--private-key overrides the file')
    const endpoint = (await node.waitForLine('stdout', /^ {2}http +http:\/\//)).trim().split(/ +/)[1]!

    const response = await fetch(`${endpoint}/health`)
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { status: 'ok' })

    node.child.kill('SIGTERM')
    const result = await node.result
    assert.equal(result.code, 0, describeResult(result))
    assert.match(result.stderr, /node stopped\n$/)
    await assert.rejects(fetch(`${endpoint}/health`), 'the HTTP API is closed')
  })
})
