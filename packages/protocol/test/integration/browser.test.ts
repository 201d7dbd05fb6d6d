import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { bundleForBrowser, chromiumSkip, launchChromium } from '../support/browser.js'
import type { Browser } from 'playwright-core'

const entryPoint = fileURLToPath(new URL('../browser/smoke.ts', import.meta.url))

describe('browser-safe entry point', () => {
  let bundle: string

  before(async () => {
    // platform 'browser' makes esbuild fail on any Node-only import (node:*, fs, …).
    bundle = await bundleForBrowser(entryPoint)
  })

  it('bundles for the browser without Node.js modules', () => {
    assert.ok(bundle.length > 0)
    assert.doesNotMatch(bundle, /from\s+["']node:/)
  })

  describe('in headless Chromium', { skip: chromiumSkip }, () => {
    let server: Server
    let browser: Browser
    let url: string

    before(async () => {
      server = createServer((request, response) => {
        if (request.url === '/smoke.js') {
          response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
        } else {
          response
            .writeHead(200, { 'content-type': 'text/html' })
            .end('<!doctype html><script type="module" src="/smoke.js"></script>')
        }
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      browser = await launchChromium()
    })

    after(async () => {
      await browser?.close()
      server?.close()
    })

    it('signs, encodes, decodes and verifies a message in a page', async () => {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(error.message))
      await page.goto(url)
      await page.waitForFunction(() => window.smokeResult !== undefined, undefined, { timeout: 30_000 })
      const result = await page.evaluate(() => window.smokeResult)
      assert.deepEqual(errors, [])
      assert.deepEqual(result, { verified: true, content: { hello: 'browser' }, publisher: true })
    })
  })
})
