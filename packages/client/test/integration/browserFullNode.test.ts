// Browsers as full nodes: two headless Chromium pages run the client's browser entry point as full nodes in dht mode
// (the DHT joined through a Node.js entry point over WebSocket, neighbours over the browser's own WebRTC), beside
// Node.js nodes. A page's message reaches the other page and the Node.js subscribers, and a page relays: a Node.js
// node whose only neighbour is a page receives what a Node.js publisher whose only neighbour is a page published.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { generatePrivateKey } from '@runnel/protocol'
import type { NetworkNodeOptions } from '@runnel/network'
import type { Browser, Page } from 'playwright-core'
import { bundleForBrowser, chromiumSkip, launchChromium } from '../../../protocol/test/support/browser.js'
import type { ReceivedMessage, RunnelClient } from '../../src/index.js'
import { createRunnelClient } from '../../src/node/index.js'
import type { FullNodeConfig } from '../browser/fullNodePage.js'
import { waitFor } from '../helpers.js'
import { startTestDiscovery, testDiscoveryMode, type TestDiscovery } from '../support/discovery.js'
import { startPageServer, type PageServer } from '../support/pageServer.js'

const pageEntry = fileURLToPath(new URL('../browser/fullNodePage.ts', import.meta.url))

/** A browser page running fullNodePage.ts, driven through its controls. */
interface FullNodePage {
  readonly page: Page
  readonly nodeId: string
  readonly errors: string[]
}

describe('browser pages as full nodes (dht mode, WebRTC)', () => {
  let bundle: string

  before(async () => {
    bundle = await bundleForBrowser(pageEntry, ['runnel-source'])
  })

  it('bundles the full node for the browser without Node.js modules or the Node.js WebRTC binding', () => {
    assert.doesNotMatch(bundle, /from\s*["']node:/)
    assert.doesNotMatch(bundle, /import\(\s*["']node:/)
    assert.doesNotMatch(bundle, /require\(\s*["']node:/)
    // The browser's own RTCPeerConnection, not node-datachannel's polyfill.
    assert.doesNotMatch(bundle, /node-datachannel/)
    assert.match(bundle, /RTCPeerConnection/)
  })

  describe(
    'in headless Chromium, with a Node.js network on 127.0.0.1',
    {
      // Always dht mode: the run with RUNNEL_TEST_DISCOVERY=dht would repeat it as is.
      skip: chromiumSkip !== false ? chromiumSkip : testDiscoveryMode() === 'dht' ? 'runs in the default run' : false,
    },
    () => {
      let dev: DevChain
      let discovery: TestDiscovery
      let server: PageServer
      let browser: Browser
      let streamId: string
      const clients: RunnelClient[] = []
      const pages: FullNodePage[] = []

      /** A Node.js full node that can dial browsers: WebSocket (listening) and WebRTC (node-datachannel). */
      const nodeClient = (
        index: number | 'fresh',
        degrees: Pick<NetworkNodeOptions, 'targetDegree' | 'maxDegree' | 'preferNeighbors'> = {},
      ): RunnelClient => {
        const client = createRunnelClient({
          auth: { privateKey: index === 'fresh' ? generatePrivateKey() : dev.chain.accountKeys[index]! },
          chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
          network: { ...discovery.settings, ...degrees, webrtc: {} },
        })
        clients.push(client)
        return client
      }

      const openPage = async (): Promise<FullNodePage> => {
        const page = await browser.newPage()
        const errors: string[] = []
        page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
        page.on('console', (message) => {
          if (message.type() === 'error') errors.push(`console: ${message.text()}`)
        })
        await page.goto(`${server.origin}/`)
        await page.waitForFunction(() => window.runnelFullNode !== undefined)
        const config: FullNodeConfig = {
          privateKey: generatePrivateKey(),
          entryPoints: discovery.entryPoints,
          rpcUrl: `${server.origin}/rpc`,
          contracts: {
            streamRegistry: dev.deployment.streamRegistry,
            storageNodeRegistry: dev.deployment.storageNodeRegistry,
          },
          fromBlock: dev.deployment.deployBlock.toString(),
        }
        const started = await page.evaluate((config) => window.runnelFullNode!.start(config), config)
        assert.equal(started.kind, 'full')
        // Reachable only over WebRTC: a page has no server to dial.
        assert.deepEqual(started.addresses, [`webrtc:${started.nodeId}`])
        const opened = { page, nodeId: started.nodeId, errors }
        pages.push(opened)
        return opened
      }

      /** Subscribes a page to the stream. */
      const subscribePage = (opened: FullNodePage): Promise<void> =>
        opened.page.evaluate((id) => window.runnelFullNode!.subscribe(id), streamId)

      const neighborsOf = (client: RunnelClient): string[] =>
        client.networkNode.getNeighbors(`${streamId}#0` as Parameters<RunnelClient['networkNode']['getNeighbors']>[0])

      before(async () => {
        dev = await startDevChain({ port: 0 })
        discovery = await startTestDiscovery('dht')
        const owner = nodeClient(1)
        ;({ id: streamId } = await owner.createStream('/client/browser-full-node'))
        await owner.grantPermissions(streamId, 'public', 'publish', 'subscribe')
        server = await startPageServer(bundle, dev.chain.rpcUrl!)
        browser = await launchChromium()
      })

      after(async () => {
        // Each step runs even if an earlier one (or `before`) failed part-way.
        for (const opened of pages) await opened.page.evaluate(() => window.runnelFullNode?.stop()).catch(() => {})
        await browser?.close().catch(() => {})
        await Promise.allSettled(clients.map((client) => client.destroy()))
        await discovery?.stop().catch(() => {})
        await server?.stop().catch(() => {})
        await dev?.stop().catch(() => {})
      })

      it(
        "carries a page's message to the other page and the Node.js subscribers, and relays between Node.js nodes",
        {
          timeout: 60_000,
        },
        async () => {
          const received = new Map<RunnelClient, ReceivedMessage[]>()
          const subscribe = async (client: RunnelClient): Promise<void> => {
            const messages: ReceivedMessage[] = []
            received.set(client, messages)
            await client.subscribe(streamId, (message) => messages.push(message))
          }
          const contents = (client: RunnelClient): unknown[] => received.get(client)!.map((message) => message.content)

          // The publisher joins first, alone, and takes one neighbour only: the first page.
          const publisher = nodeClient(2, { targetDegree: 1, maxDegree: 1 })
          await subscribe(publisher)
          const pageA = await openPage()
          await subscribePage(pageA)
          await waitFor(
            () => neighborsOf(publisher).length === 1,
            20_000,
            'the publisher to take page A as its neighbour',
          )
          assert.deepEqual(neighborsOf(publisher), [pageA.nodeId])

          // The second page finds the publisher full and joins through page A (browser to browser).
          const pageB = await openPage()
          await subscribePage(pageB)
          const browsers = [pageA.nodeId, pageB.nodeId]
          const relayed = nodeClient(3)
          await subscribe(relayed)
          const plain = nodeClient(4)
          await subscribe(plain)
          await waitFor(
            () => neighborsOf(relayed).length >= 1 && neighborsOf(plain).length >= 1,
            20_000,
            'the Node.js subscribers to have neighbours',
          )

          // Page A publishes: page B and every Node.js subscriber receive it.
          await pageA.page.evaluate((id) => window.runnelFullNode!.publish(id, { from: 'page A' }), streamId)
          await waitFor(
            () => [publisher, relayed, plain].every((client) => contents(client).length >= 1),
            20_000,
            "page A's message at the Node.js subscribers",
            () =>
              `publisher ${contents(publisher).length}, relayed ${contents(relayed).length}, plain ${contents(plain).length}` +
              `; neighbours: publisher ${neighborsOf(publisher).join(',')}, relayed ${neighborsOf(relayed).join(',')}, ` +
              `plain ${neighborsOf(plain).join(',')}; pages A ${pageA.nodeId}, B ${pageB.nodeId}; the publisher dropped ` +
              `${publisher.networkNode.getMetrics().unexpectedMessages} message(s) from non-neighbours`,
          )
          await pageB.page.waitForFunction(() => window.runnelFullNode!.received().length >= 1, undefined, {
            timeout: 20_000,
          })
          const atPageB = await pageB.page.evaluate(() => window.runnelFullNode!.received())
          assert.deepEqual(
            atPageB.map((message) => message.content),
            [{ from: 'page A' }],
          )
          for (const client of [publisher, relayed, plain]) assert.deepEqual(contents(client), [{ from: 'page A' }])

          // A page relays: a Node.js publisher whose one neighbour is a page, so every path from it crosses a
          // browser. It asks the pages first (without the preference, a loaded run once got Node.js neighbours on
          // all ten tries: a WebSocket peer answers first); which peer it keeps is still the overlay's choice (a node
          // at its target degree may hand its neighbour over), so a publisher that got a Node.js neighbour leaves
          // and a fresh one tries again.
          let relayer: string | undefined
          for (let attempt = 1; attempt <= 10 && relayer === undefined; attempt++) {
            const tail = nodeClient('fresh', {
              targetDegree: 1,
              maxDegree: 1,
              preferNeighbors: (nodeId) => browsers.includes(nodeId),
            })
            await tail.subscribe(streamId, () => undefined)
            await waitFor(() => neighborsOf(tail).length === 1, 20_000, 'the page-side publisher to have a neighbour')
            const [neighbor] = neighborsOf(tail)
            if (!browsers.includes(neighbor!)) {
              // Left, not destroyed: pages may still dial it from its record, and a refusal beats a dead address.
              await tail.unsubscribe(streamId)
              continue
            }
            await tail.publish(streamId, { from: 'behind a page', attempt })
            await waitFor(
              () =>
                [publisher, relayed, plain].every((client) =>
                  contents(client).some((content) => (content as { attempt?: number }).attempt === attempt),
                ),
              20_000,
              'the message published behind a page at every Node.js subscriber',
            )
            // Proof only if the page was still its only neighbour once everyone had it: then the message had no path
            // but through the page. The overlay may swap a neighbour meanwhile (neighbour scoring rotates out one
            // that never delivers first); then the attempt proves nothing, and a fresh publisher tries again.
            const [still, ...more] = neighborsOf(tail)
            if (still !== neighbor || more.length > 0) {
              await tail.unsubscribe(streamId)
              continue
            }
            relayer = neighbor
          }
          assert.ok(relayer !== undefined, 'a publisher whose one neighbour is a page, within 10 attempts')

          for (const opened of pages) {
            assert.deepEqual(await opened.page.evaluate(() => window.runnelFullNode!.problems()), [])
            assert.deepEqual(opened.errors, [])
          }
        },
      )
    },
  )
})
