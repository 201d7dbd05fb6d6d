import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { bundleForBrowser, chromiumSkip, launchChromium } from '../../../protocol/test/support/browser.js'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { generatePrivateKey } from '@runnel/protocol'
import type { Browser, Page } from 'playwright-core'
import { privateKeyToAccount } from 'viem/accounts'
import type { ReceivedMessage, RunnelClient } from '../../src/index.js'
import { createRunnelClient } from '../../src/node/index.js'
import type { PageConfig } from '../browser/page.js'
import { waitFor } from '../helpers.js'
import { startTestDiscovery, type TestDiscovery } from '../support/discovery.js'
import { startPageServer, type PageServer } from '../support/pageServer.js'

const COUNT = 20
const entryPoint = fileURLToPath(new URL('../browser/page.ts', import.meta.url))

describe('RunnelClient in a browser', () => {
  let bundle: string

  before(async () => {
    // platform 'browser' makes esbuild fail on any Node-only import (node:*, fs, …) reachable from the entry point.
    bundle = await bundleForBrowser(entryPoint, ['runnel-source'])
  })

  it('bundles for the browser without Node.js modules', () => {
    assert.ok(bundle.length > 0)
    assert.doesNotMatch(bundle, /from\s*["']node:/)
    assert.doesNotMatch(bundle, /import\(\s*["']node:/)
    assert.doesNotMatch(bundle, /require\(\s*["']node:/)
  })

  describe('in headless Chromium, against nodes on 127.0.0.1', { skip: chromiumSkip }, () => {
    let dev: DevChain
    let discovery: TestDiscovery
    const clients: RunnelClient[] = []
    let owner: RunnelClient
    let subscriber: RunnelClient
    let server: PageServer | undefined
    let browser: Browser
    let page: Page | undefined
    let origin: string
    let streamId: string
    const browserKey = generatePrivateKey()
    const browserAddress = privateKeyToAccount(browserKey as `0x${string}`).address

    before(async () => {
      dev = await startDevChain({ port: 0 })
      discovery = await startTestDiscovery()
      const client = (index: number): RunnelClient => {
        const created = createRunnelClient({
          auth: { privateKey: dev.chain.accountKeys[index]! },
          chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
          network: discovery.settings,
        })
        clients.push(created)
        return created
      }
      owner = client(1)
      subscriber = client(2)
      ;({ id: streamId } = await owner.createStream('/client/browser'))
      await owner.grantPermissions(streamId, browserAddress, 'publish', 'subscribe')
      await owner.grantPermissions(streamId, subscriber.address, 'subscribe')

      // The page and, same-origin, the chain's JSON-RPC: the browser needs no CORS.
      server = await startPageServer(bundle, dev.chain.rpcUrl!, (pageOrigin) => {
        const config: PageConfig = {
          privateKey: browserKey,
          network: discovery.settings,
          rpcUrl: `${pageOrigin}/rpc`,
          contracts: {
            streamRegistry: dev.deployment.streamRegistry,
            storageNodeRegistry: dev.deployment.storageNodeRegistry,
          },
          fromBlock: dev.deployment.deployBlock.toString(),
          streamId,
          count: COUNT,
        }
        return `<script>window.__RUNNEL_CONFIG__ = ${JSON.stringify(config).replace(/</g, '\\u003c')}</script>`
      })
      origin = server.origin
      browser = await launchChromium()
    })

    after(async () => {
      // Each step runs even if an earlier one (or `before`) failed part-way.
      await page?.evaluate(() => window.runnelPage?.stop?.()).catch(() => {})
      await browser?.close().catch(() => {})
      await Promise.allSettled(clients.map((client) => client.destroy()))
      await discovery?.stop().catch(() => {})
      await dev?.stop().catch(() => {})
      await server?.stop()
    })

    it('publishes and subscribes from a page, both ways, in order', { timeout: 120_000 }, async () => {
      const fromBrowser: ReceivedMessage[] = []
      await subscriber.subscribe(streamId, (message) => {
        if ((message.content as { from?: string }).from === 'browser') fromBrowser.push(message)
      })

      page = await browser.newPage()
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console: ${message.text()}`)
      })
      await page.goto(`${origin}/`)
      await page.waitForFunction(
        () => window.runnelPage?.subscribed === true || window.runnelPage?.done === true,
        undefined,
        {
          timeout: 60_000,
        },
      )
      assert.equal(await page.evaluate(() => window.runnelPage?.failure), undefined)

      const published = []
      for (let i = 0; i < COUNT; i++) published.push(await owner.publish(streamId, { from: 'node', i }))

      await page.waitForFunction(
        (count) =>
          window.runnelPage?.failure !== undefined ||
          (window.runnelPage?.done === true &&
            window.runnelPage.received.filter((m) => (m.content as { from?: string }).from === 'node').length >= count),
        COUNT,
        { timeout: 60_000 },
      )
      await waitFor(() => fromBrowser.length >= COUNT, 60_000, 'the browser messages at the Node subscriber')

      const state = (await page.evaluate(() => window.runnelPage))!
      assert.equal(state.failure, undefined)
      assert.equal(state.address?.toLowerCase(), browserAddress.toLowerCase())
      assert.equal(state.published, COUNT)
      const fromNode = state.received.filter((m) => (m.content as { from?: string }).from === 'node')
      assert.deepEqual(
        fromNode.map((m) => m.content),
        Array.from({ length: COUNT }, (_, i) => ({ from: 'node', i })),
      )
      assert.ok(fromNode.every((m) => m.publisherId === owner.address.toLowerCase()))
      assert.deepEqual(
        fromBrowser.map((m) => m.content),
        Array.from({ length: COUNT }, (_, i) => ({ from: 'browser', i })),
      )
      assert.ok(fromBrowser.every((m) => m.publisherId === browserAddress.toLowerCase() && m.streamId === streamId))
      assert.deepEqual(state.problems, [])
      assert.deepEqual(errors, [])
    })
  })
})
