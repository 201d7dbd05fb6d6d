// Smoke test of WebRTC in browsers: two headless Chromium pages and a Node.js node, each a full node with no server
// of its own, connect to each other over WebRTC after signalling through a Node.js tracker, and carry a stream from
// one page to the other page and the Node.js node.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { generatePrivateKey, type PrivateKeyHex } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import type { Browser, Page } from 'playwright-core'
import { bundleForBrowser, chromiumSkip, launchChromium } from '../../../protocol/test/support/browser.js'
import { NetworkNode, type TrackerServer } from '../../src/index.js'
import { createNodeWebRtcTransport, WebSocketTransport } from '../../src/node/index.js'
import { MultiTransport } from '../../src/transport/MultiTransport.js'
import type { WebRtcTransport } from '../../src/transport/webrtc/WebRtcTransport.js'
import type { WebRtcPageConfig } from '../browser/webrtcPage.js'
import { newSigner, startWebSocketTracker, verifier, waitFor } from '../helpers.js'

const COUNT = 20
const entryPoint = fileURLToPath(new URL('../browser/webrtcPage.ts', import.meta.url))

describe('WebRTC between browser pages', () => {
  let bundle: string

  before(async () => {
    bundle = await bundleForBrowser(entryPoint, ['runnel-source'])
  })

  it('the WebRTC transport bundles for the browser without Node.js modules', () => {
    assert.doesNotMatch(bundle, /from\s*["']node:/)
    assert.doesNotMatch(bundle, /import\(\s*["']node:/)
    assert.doesNotMatch(bundle, /require\(\s*["']node:/)
    assert.doesNotMatch(bundle, /node-datachannel/)
  })

  describe('in headless Chromium, signalled through a Node.js tracker', { skip: chromiumSkip }, () => {
    let tracker: TrackerServer
    let trackerAddress: string
    let server: Server
    let origin: string
    let browser: Browser
    let nodeWebRtc: WebRtcTransport
    let node: NetworkNode | undefined
    const pages: Page[] = []
    const publisherKey = generatePrivateKey()
    const configs = new Map<string, WebRtcPageConfig>()

    before(async () => {
      ;({ tracker, address: trackerAddress } = await startWebSocketTracker())
      const publisherAddress = createNativeSigner(publisherKey).address
      const keys: Record<string, PrivateKeyHex> = { publisher: publisherKey, subscriber: generatePrivateKey() }
      for (const [name, privateKey] of Object.entries(keys)) {
        configs.set(name, { privateKey, trackers: [trackerAddress], publisherAddress })
      }
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1')
        const config = configs.get(url.pathname.slice(1))
        if (url.pathname === '/page.js') {
          res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
        } else if (config !== undefined) {
          const json = JSON.stringify(config).replace(/</g, '\\u003c')
          res
            .writeHead(200, { 'content-type': 'text/html' })
            .end(
              `<!doctype html><script>window.__WEBRTC_PAGE_CONFIG__ = ${json}</script>` +
                '<script type="module" src="/page.js"></script>',
            )
        } else {
          res.writeHead(404).end()
        }
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      // Host candidates with real addresses, not mDNS names: the pages find each other without a resolver.
      browser = await launchChromium(['--disable-features=WebRtcHideLocalIpsWithMdns'])
    })

    after(async () => {
      for (const page of pages) await page.evaluate(() => window.webRtcPage?.stop?.()).catch(() => {})
      await browser?.close().catch(() => {})
      await node?.stop().catch(() => {})
      await tracker?.stop().catch(() => {})
      await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
    })

    async function openPage(name: string): Promise<Page> {
      const page = await browser.newPage()
      pages.push(page)
      await page.goto(`${origin}/${name}`)
      return page
    }

    async function stateOf(page: Page): Promise<NonNullable<Window['webRtcPage']>> {
      return page.evaluate(() => {
        const { nodeId, addresses, neighbors, received, failure } = window.webRtcPage ?? { neighbors: [], received: [] }
        return { nodeId, addresses, neighbors, received, failure }
      })
    }

    it(
      `${COUNT} messages published in one page arrive in the other and in a Node.js node, over WebRTC`,
      {
        timeout: 60_000,
      },
      async () => {
        const [publisher, subscriber] = [await openPage('publisher'), await openPage('subscriber')]
        let states = await Promise.all([stateOf(publisher), stateOf(subscriber)])
        // The pages' states are read asynchronously; refresh them while waitFor polls.
        const refresh = setInterval(() => {
          void Promise.all([stateOf(publisher), stateOf(subscriber)]).then((next) => (states = next))
        }, 50)
        try {
          await waitFor(
            () => states.every((state) => state.neighbors.length === 1 || state.failure !== undefined),
            30_000,
            'both pages to have a neighbour',
          )
        } finally {
          clearInterval(refresh)
        }
        assert.deepEqual(
          states.map((state) => state.failure),
          [undefined, undefined],
        )
        const [publisherState, subscriberState] = states
        assert.deepEqual(publisherState.addresses, [`webrtc:${publisherState.nodeId!}`])
        assert.deepEqual(subscriberState.neighbors, [publisherState.nodeId])
        assert.ok(tracker.metrics.signalling.relayed >= 2, 'the offer and the answer went through the tracker')

        // A Node.js node (node-datachannel) joins the pages' stream part, reachable over WebRTC only like them.
        nodeWebRtc = createNodeWebRtcTransport()
        node = new NetworkNode(
          { transport: new MultiTransport([new WebSocketTransport(), nodeWebRtc]), signer: newSigner(), verifier },
          { trackers: [trackerAddress] },
        )
        await node.start()
        const streamPartId = `${publisherState.nodeId!}/webrtc-browser#0` as Parameters<NetworkNode['join']>[0]
        const atNode: string[] = []
        node.addMessageListener(streamPartId, (message) => atNode.push(message.messageId.toString()))
        await node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(30_000) })
        assert.ok(
          node.getNeighbors(streamPartId).every((id) => id === publisherState.nodeId || id === subscriberState.nodeId),
        )
        assert.ok(nodeWebRtc.metrics.opened >= 1, 'the Node.js node reached a page over WebRTC')

        const published = await publisher.evaluate((count) => window.webRtcPage!.publish!(count), COUNT)
        let received: string[] = []
        const poll = setInterval(() => {
          void stateOf(subscriber).then((state) => (received = state.received))
        }, 50)
        try {
          await waitFor(() => received.length >= COUNT, 30_000, `${COUNT} messages in the subscriber page`)
        } finally {
          clearInterval(poll)
        }
        assert.deepEqual(received, published)
        await waitFor(() => atNode.length >= COUNT, 30_000, `${COUNT} messages in the Node.js node`)
        assert.deepEqual(atNode, published)
      },
    )
  })
})
