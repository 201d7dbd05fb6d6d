import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createRunnelClient } from '@runnel/client/node'
import type { RunnelClient } from '@runnel/client'
import { NetworkNode } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { createLogger } from '@runnel/node'
import { startDevNetwork, type DevNetwork } from '@runnel/node/dev'
import { MessageId, StreamMessage, encodeJsonContent, generatePrivateKey, type StreamPartId } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import type { Browser, Page } from 'playwright-core'
import { build } from 'vite'
import { startRawPeer } from '../../../network/test/helpers.js'
import { chromiumSkip, launchChromium } from '../../../protocol/test/support/browser.js'
import type { Overview } from '../../src/api.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const WEB_CONFIG = join(here, '..', '..', 'web', 'vite.config.ts')
/** Screenshots of each page, for a person to look at (docs/explorer.md has one of each). */
const SCREENSHOTS = join(here, '..', '..', 'test-results')
const FREE_PORTS = { chain: 0, tracker: 0, entryPoint: 0, websocket: 0, http: 0, mqtt: 0, storage: 0, explorer: 0 }

describe('Network Explorer, in a browser, against runnel dev', { skip: chromiumSkip }, () => {
  let dev: DevNetwork
  let browser: Browser
  let page: Page
  let publisher: RunnelClient
  const pageErrors: string[] = []

  before(async () => {
    // The app under test is the one built from the current sources.
    await build({ configFile: WEB_CONFIG, logLevel: 'warn' })
    await mkdir(SCREENSHOTS, { recursive: true })
    dev = await startDevNetwork({
      ports: FREE_PORTS,
      discovery: discoveryMode(),
      // One operator staked on a sponsorship of the demo stream, for the incentives page.
      operators: 1,
      logger: createLogger({ level: 'warn' }, 'runnel-dev'),
    })
    publisher = createRunnelClient({
      auth: { privateKey: dev.devPrivateKey },
      network: dev.network,
      chain: { rpcUrl: dev.rpcUrl },
    })
    browser = await launchChromium(['--headless'])
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text())
    })
  })

  after(async () => {
    await browser?.close()
    await publisher?.destroy()
    await dev?.stop()
  })

  it('shows the dev network’s nodes on the overview, live', { timeout: 180_000 }, async () => {
    await page.goto(dev.explorerUrl!)
    const addresses = dev.nodes.map((node) => node.client.address.toLowerCase())
    // Each node shows up once its metrics stream exists, and is live once its first 5 s report arrived.
    await page.waitForFunction(
      (wanted) =>
        wanted.every(
          (address) =>
            document
              .querySelector(`tr[data-testid="node-row"][data-address="${address}"]`)
              ?.textContent?.includes('live') ?? false,
        ),
      addresses,
      { timeout: 120_000, polling: 500 },
    )
    assert.equal(await page.locator('tr[data-testid="node-row"]').count(), addresses.length)
    assert.ok(Number(await page.locator('[data-testid="total-mps"]').textContent()) >= 0)
    assert.equal(await page.locator('svg[data-testid="world-map"]').count(), 1)
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true })
  })

  it('finds the demo stream by search', { timeout: 60_000 }, async () => {
    await page.fill('input[data-testid="search-input"]', 'demo stream')
    await page.press('input[data-testid="search-input"]', 'Enter')
    const result = page.locator('a[data-testid="search-stream"]', { hasText: dev.demoStreamId })
    await result.waitFor({ timeout: 30_000 })
    await page.screenshot({ path: join(SCREENSHOTS, 'search.png'), fullPage: true })
    await result.click()
    await page.locator('[data-testid="stream-id"]', { hasText: dev.demoStreamId }).waitFor({ timeout: 30_000 })
  })

  it(
    'updates the stream’s msgs/s and tail live as 100 messages are published, and draws its overlay',
    { timeout: 180_000 },
    async () => {
      await page.goto(`${dev.explorerUrl!}#/streams/${encodeURIComponent(dev.demoStreamId)}`)
      await page.locator('[data-testid="tail-rate"]').waitFor({ timeout: 30_000 })
      const before = await page.locator('[data-testid="tail-message"][data-signature="valid"]').count()
      for (let i = 0; i < 100; i++) await publisher.publish(dev.demoStreamId, { n: i, from: 'explorer test' })
      await page.waitForFunction(
        (wanted) => document.querySelectorAll('[data-testid="tail-message"][data-signature="valid"]').length >= wanted,
        before + 100,
        { timeout: 60_000, polling: 200 },
      )
      await page.waitForFunction(
        () => Number.parseFloat(document.querySelector('[data-testid="tail-rate"]')?.textContent ?? '0') > 0,
        undefined,
        { timeout: 30_000, polling: 200 },
      )
      assert.ok(Number(await page.locator('[data-testid="tail-valid"]').textContent()) >= 100)

      // The overlay, crawled now: every node in the stream part is a vertex, the explorer's own node included.
      const streamPartId = `${dev.demoStreamId}#0` as StreamPartId
      const explorerNode = dev.explorer!.client.networkNode
      const inPart = [...dev.nodes.map((node) => node.client.networkNode), publisher.networkNode, explorerNode]
        .filter((node) => node.getStreamParts().includes(streamPartId))
        .map((node) => node.nodeId)
      await page.locator('[data-testid="overlay-refresh"]').click()
      await page.waitForFunction(
        (count) => document.querySelectorAll('circle[data-testid="overlay-vertex"]').length === count,
        inPart.length,
        { timeout: 60_000, polling: 200 },
      )
      const drawn = await page
        .locator('circle[data-testid="overlay-vertex"]')
        .evaluateAll((circles) => circles.map((circle) => circle.getAttribute('data-node-id')))
      assert.deepEqual(new Set(drawn), new Set(inPart))
      assert.ok((await page.locator('line[data-testid="overlay-edge"]').count()) >= inPart.length - 1)
      await page.screenshot({ path: join(SCREENSHOTS, 'stream.png'), fullPage: true })
    },
  )

  it('shows a forged message as forged in the tail, and never counts it as traffic', { timeout: 120_000 }, async () => {
    const streamPartId = `${dev.demoStreamId}#0` as StreamPartId
    const explorerNode = dev.explorer!.client.networkNode
    await page.goto(`${dev.explorerUrl!}#/streams/${encodeURIComponent(dev.demoStreamId)}`)
    await page.locator('[data-testid="tail-rate"]').waitFor({ timeout: 30_000 })
    const counted = async (which: 'valid' | 'invalid') =>
      Number(await page.locator(`[data-testid="tail-${which}"]`).textContent())
    const validAtStart = await counted('valid')
    const genuine = await publisher.publish(dev.demoStreamId, { amount: 10 })
    await page
      .locator('[data-testid="tail-message"][data-signature="valid"]', { hasText: '"amount":10' })
      .first()
      .waitFor({ timeout: 30_000 })
    // The counts come once a second: wait for the one that includes the genuine message.
    await page.waitForFunction(
      (atStart) => Number(document.querySelector('[data-testid="tail-valid"]')?.textContent) > atStart,
      validAtStart,
      { timeout: 30_000, polling: 100 },
    )
    const validBefore = await counted('valid')
    const invalidBefore = await counted('invalid')
    // A node that relays without checking signatures, next to the explorer's node, sends a copy of the genuine
    // message with its content changed and the original signature.
    const rogue = new NetworkNode(
      {
        transport: new WebSocketTransport({ port: 0 }),
        signer: createNativeSigner(generatePrivateKey()),
        verifier: nativeSignatureVerifier,
      },
      { ...dev.network, verifySignatures: false },
    )
    await rogue.start()
    try {
      void rogue.join(streamPartId)
      rogue.requestPeers(streamPartId, [explorerNode.descriptor])
      await waitUntil(() => rogue.getNeighbors(streamPartId).includes(explorerNode.nodeId), 30_000, 'the rogue’s edge')
      const original = await lastStored(publisher, genuine.timestamp)
      rogue.broadcast(
        new StreamMessage({
          ...original,
          messageId: new MessageId(
            dev.demoStreamId,
            0,
            genuine.timestamp + 1,
            0,
            genuine.publisherId,
            genuine.msgChainId,
          ),
          content: encodeJsonContent({ amount: 1_000_000 }),
        }),
      )
      const forged = page.locator('[data-testid="tail-message"][data-signature="forged"]', { hasText: '1000000' })
      await forged.first().waitFor({ timeout: 30_000 })
      assert.match((await forged.first().textContent()) ?? '', /forged/i)
      // The page checked the signed bytes itself too: the forgery fails there, the genuine message passes.
      assert.equal(await forged.first().getAttribute('data-browser-check'), 'forged')
      const genuineRow = page
        .locator('[data-testid="tail-message"][data-signature="valid"]', { hasText: '"amount":10' })
        .first()
      assert.equal(await genuineRow.getAttribute('data-browser-check'), 'valid')
      await page.waitForFunction(
        (before) => Number(document.querySelector('[data-testid="tail-invalid"]')?.textContent) > before,
        invalidBefore,
        { timeout: 30_000, polling: 100 },
      )
      assert.equal(await counted('valid'), validBefore, 'the forgery is not counted as traffic')
      await page.screenshot({ path: join(SCREENSHOTS, 'stream-forged.png'), fullPage: true })
    } finally {
      await rogue.stop()
    }
  })

  it('lists the sponsorships and operators, with stakes and earnings', { timeout: 60_000 }, async () => {
    const operator = dev.operators[0]!
    await page.goto(`${dev.explorerUrl!}#/incentives`)
    const sponsorship = page.locator(`tr[data-testid="sponsorship-row"][data-sponsorship-id="${dev.sponsorshipId!}"]`)
    await sponsorship.waitFor({ timeout: 30_000 })
    assert.match((await sponsorship.textContent()) ?? '', new RegExp(dev.demoStreamId))
    assert.match((await sponsorship.textContent()) ?? '', new RegExp(`${operator.address.toLowerCase()}: 5000, earned`))
    const row = page.locator(`tr[data-testid="operator-row"][data-address="${operator.address.toLowerCase()}"]`)
    assert.match((await row.textContent()) ?? '', new RegExp(`#${dev.sponsorshipId!}: 5000, earned`))
    await page.screenshot({ path: join(SCREENSHOTS, 'incentives.png'), fullPage: true })
  })

  it('charts a node’s stored metrics history on its page', { timeout: 180_000 }, async () => {
    const storage = dev.nodes[1]!.client.address.toLowerCase()
    await page.goto(`${dev.explorerUrl!}#/nodes/${storage}`)
    await page.locator('[data-testid="node-address"]', { hasText: storage }).waitFor({ timeout: 30_000 })
    // Reports are stored every 5 s once the storage node keeps the stream: reload until the chart has points.
    const deadline = Date.now() + 120_000
    for (;;) {
      const points = await page
        .locator('[data-testid="history-chart"]')
        .getAttribute('data-points', { timeout: 30_000 })
        .catch(() => null)
      if (Number(points) >= 2) break
      if (Date.now() > deadline) assert.fail(`the node page's chart has ${points ?? 'no'} points`)
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      await page.reload()
    }
    assert.equal((await page.locator('[data-testid="history-chart"] canvas').count()) > 0, true)
    await page.screenshot({ path: join(SCREENSHOTS, 'node.png'), fullPage: true })
  })

  it(
    'says what is missing for unknown ids, silent nodes and malformed metrics, and keeps working',
    { timeout: 180_000 },
    async () => {
      await page.goto(`${dev.explorerUrl!}#/streams/${encodeURIComponent(`${dev.devAddress}/no-such-stream`)}`)
      await page
        .locator('[data-testid="problem"]', { hasText: /not found|STREAM_NOT_FOUND/i })
        .waitFor({ timeout: 30_000 })
      await page.goto(`${dev.explorerUrl!}#/streams/${encodeURIComponent('not a stream id')}`)
      await page.locator('[data-testid="problem"]').first().waitFor({ timeout: 30_000 })
      await page.goto(`${dev.explorerUrl!}#/nodes/0x${'0'.repeat(40)}`)
      await page.locator('[data-testid="problem"]', { hasText: /no node/i }).waitFor({ timeout: 30_000 })

      // A "node" whose metrics stream names an address that accepts connections and never answers; once its publisher
      // is gone, the explorer can only dial that address. Then a report that is garbage.
      const silent = await startSilentServer()
      const key = dev.chain.chain.accountKeys[3]!
      // …and an address where the node's own key answers info queries with garbage.
      const garbage = await startRawPeer(createNativeSigner(key), 'full', undefined, {
        listen: true,
        onControl: (message, peer) => {
          if (message.body.case !== 'nodeInfoRequest') return
          const { requestId } = message.body.value
          peer.sendControl({ case: 'nodeInfoResponse', value: { requestId, version: 'x'.repeat(65) } })
        },
      })
      const metricsClient = () =>
        createRunnelClient({ auth: { privateKey: key }, network: dev.network, chain: { rpcUrl: dev.rpcUrl } })
      const first = metricsClient()
      const address = first.address.toLowerCase()
      const row = page.locator(`tr[data-testid="node-row"][data-address="${address}"]`)
      try {
        const stream = await first.createStream('/runnel/metrics', { partitions: 3 })
        await first.grantPermissions(stream.id, 'public', 'subscribe')
        // Until the explorer follows the new stream (its next read of the chain), reports go unseen: keep sending.
        const report = validReport(`ws://127.0.0.1:${silent.port}`, garbage.localDescriptor.addresses[0]!)
        const sending = setInterval(
          () => void first.publish({ id: stream.id, partition: 0 }, report).catch(() => {}),
          1_000,
        )
        try {
          await page.goto(dev.explorerUrl!)
          await row.filter({ hasText: 'live' }).waitFor({ timeout: 60_000 })
        } finally {
          clearInterval(sending)
        }
      } finally {
        await first.destroy()
      }
      await page.goto(`${dev.explorerUrl!}#/nodes/${address}`)
      await page
        .locator('[data-testid="problem"]', { hasText: /didn't answer its info query/ })
        .waitFor({ timeout: 60_000 })
      const why = (await page.locator('[data-testid="problem"]', { hasText: /info query/ }).textContent()) ?? ''
      assert.match(why, new RegExp(`ws://127.0.0.1:${silent.port}: .*aborted`))
      assert.match(why, /MALFORMED_FRAME: .*version over 64/)
      // Gone before the same key comes back as a node: two live nodes with one id is another test.
      await garbage.stop()
      await page.screenshot({ path: join(SCREENSHOTS, 'node-silent.png'), fullPage: true })

      const second = metricsClient()
      try {
        const garbage = { v: 1, period: 'every now and then', messages: 'lots' }
        const sending = setInterval(
          () => void second.publish({ id: `${address}/runnel/metrics`, partition: 0 }, garbage).catch(() => {}),
          1_000,
        )
        try {
          await page.goto(dev.explorerUrl!)
          await row.filter({ hasText: /malformed metrics report/ }).waitFor({ timeout: 60_000 })
        } finally {
          clearInterval(sending)
        }
        // The rest of the overview still works: the dev nodes are still listed, live.
        const overview = (await (await fetch(`${dev.explorerUrl!}api/overview`)).json()) as Overview
        assert.ok(overview.nodes.filter((node) => node.live).length >= dev.nodes.length)
        assert.equal(await page.locator('tr[data-testid="node-row"]').count(), dev.nodes.length + 1)
      } finally {
        await second.destroy()
        await silent.stop()
      }
      assert.deepEqual(
        pageErrors.filter((error) => !/Failed to load resource/.test(error)),
        [],
        'no errors in the page besides the API answers it shows',
      )
    },
  )
})

function discoveryMode(): 'tracker' | 'dht' {
  return process.env.RUNNEL_TEST_DISCOVERY === 'dht' ? 'dht' : 'tracker'
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The signed message the publisher sent at `timestamp`, read back from storage. */
async function lastStored(client: RunnelClient, timestamp: number): Promise<StreamMessage> {
  const deadline = Date.now() + 30_000
  for (;;) {
    for await (const message of client.resend(
      { id: `${client.address.toLowerCase()}/demo`, partition: 0 },
      { from: { timestamp } },
    )) {
      if (message.timestamp === timestamp) return message.streamMessage
    }
    if (Date.now() > deadline) throw new Error('the genuine message was never stored')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

/** A TCP server that accepts connections and never says anything. */
async function startSilentServer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

function validReport(...addresses: string[]): Record<string, unknown> {
  const now = Date.now()
  return {
    v: 1,
    period: '5s',
    from: now - 5_000,
    to: now,
    messages: { in: 0, out: 0 },
    bytes: { in: 0, out: 0 },
    deliveries: { local: 0, api: 0 },
    invalidSignatures: 0,
    latencyMs: null,
    streamParts: {},
    connections: {},
    cpuPercent: 1,
    memory: { rss: 1, heapUsed: 1 },
    node: {
      version: 'silent/1.0.0',
      kind: 'full',
      discovery: 'tracker',
      region: null,
      country: null,
      operator: null,
      addresses,
    },
  }
}
