// The explorer's marketplace and Data Union pages, in a browser against `runnel dev`: a union with members and a
// product of a dev-network stream paying it are made through the chain bindings; the page buys an hour with a dev
// account, and the subscription and the union's revenue show the purchase.
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { RunnelMarket } from '@runnel/chain'
import { createRunnelClient } from '@runnel/client/node'
import { createLogger } from '@runnel/node'
import { startDevNetwork, type DevNetwork } from '@runnel/node/dev'
import { generatePrivateKey, addressFromPrivateKey } from '@runnel/protocol'
import type { Browser, Page } from 'playwright-core'
import { parseUnits, type Address } from 'viem'
import { build } from 'vite'
import { chromiumSkip, launchChromium } from '../../../protocol/test/support/browser.js'
import type {
  ApiError,
  DataUnionDetails,
  ProductsList,
  PurchaseResponse,
  SubscriptionsResponse,
} from '../../src/api.js'
import { ExplorerServer } from '../../src/index.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const WEB_CONFIG = join(here, '..', '..', 'web', 'vite.config.ts')
const SCREENSHOTS = join(here, '..', '..', 'test-results')
const FREE_PORTS = { chain: 0, tracker: 0, entryPoint: 0, websocket: 0, http: 0, mqtt: 0, storage: 0, explorer: 0 }
/** The seller (admin of the union) and two members: dev accounts no part of `runnel dev` sends from. */
const SELLER = 1
const MEMBERS = [2, 3] as const

describe('Marketplace and Data Union pages, in a browser, against runnel dev', { skip: chromiumSkip }, () => {
  let dev: DevNetwork
  let browser: Browser
  let page: Page
  let seller: RunnelMarket
  let union: Address
  let productId: number
  let streamId: string
  let members: Address[]
  let purchase: { endsAt: number; subscriber: string }
  const pageErrors: string[] = []

  const api = async <T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${dev.explorerUrl!}${path.replace(/^\//, '')}`, init)
    return { status: response.status, body: (await response.json()) as T }
  }
  const buy = (id: number | string, body: string) =>
    api<ApiError & PurchaseResponse>(`/api/products/${id}/buy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })

  before(async () => {
    await build({ configFile: WEB_CONFIG, logLevel: 'warn' })
    await mkdir(SCREENSHOTS, { recursive: true })
    dev = await startDevNetwork({
      ports: FREE_PORTS,
      relayNodes: 1,
      storage: false,
      logger: createLogger({ level: 'warn' }, 'runnel-dev'),
    })
    seller = dev.chain.marketFor(SELLER)
    members = MEMBERS.map((i) => dev.chain.marketFor(i).account)
    const stream = await dev.chain.registryFor(SELLER).createStream('/weather', { description: 'Weather for sale' })
    union = await seller.createDataUnion({ adminFeeBps: 1000, metadata: 'Weather stations' })
    await seller.addMembers(union, [
      { address: members[0]!, weight: 1n },
      { address: members[1]!, weight: 3n },
    ])
    const product = await seller.createProduct({
      name: 'Weather feed',
      streams: [stream.id],
      beneficiary: union,
      prices: [{ token: seller.token, pricePerSecond: parseUnits('0.001', 18) }],
      minimumSeconds: 60,
    })
    productId = product.id
    streamId = stream.id
    browser = await launchChromium(['--headless'])
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text())
    })
  })

  after(async () => {
    await browser?.close()
    await dev?.stop()
  })

  it('lists the product with its stream, its Data Union beneficiary and its prices', { timeout: 60_000 }, async () => {
    await page.goto(`${dev.explorerUrl!}#/products`)
    const row = page.locator(`tr[data-testid="product-row"][data-product-id="${productId}"]`)
    await row.waitFor({ timeout: 30_000 })
    const text = (await row.textContent()) ?? ''
    assert.match(text, /Weather feed/)
    assert.match(text, /0\.001 RNL\/s/)
    assert.match(text, /3\.6 RNL\/h/)
    assert.match(text, /1 min 0 s/)
    assert.match(text, /listed/)
    assert.equal(await row.locator('[data-testid="data-union-badge"]').count(), 1)
    const streamLink = row.locator('a[data-testid="product-stream"]')
    assert.equal(await streamLink.getAttribute('href'), `#/streams/${encodeURIComponent(streamId)}`)
    await page.screenshot({ path: join(SCREENSHOTS, 'products.png'), fullPage: true })
  })

  it('buys an hour with a dev account through the product page', { timeout: 60_000 }, async () => {
    await page.locator(`tr[data-product-id="${productId}"] a[data-testid="product-link"]`).click()
    await page.locator('[data-testid="product-name"]', { hasText: 'Weather feed' }).waitFor({ timeout: 30_000 })
    await page.selectOption('[data-testid="buy-account"]', 'dev-7')
    await page.fill('[data-testid="buy-amount"]', '1')
    await page.selectOption('[data-testid="buy-unit"]', 'hours')
    await page.click('[data-testid="buy-submit"]')
    const done = page.locator('[data-testid="buy-done"]')
    await done.waitFor({ timeout: 30_000 })
    const endsAt = Number(await done.getAttribute('data-ends-at'))
    assert.match((await done.textContent()) ?? '', /dev-7 bought 1 h 0 min for 3\.6 RNL/)
    const buyer = dev.chain.marketFor(7)
    const onChain = await buyer.subscription(productId)
    assert.equal(onChain.endsAt, endsAt)
    assert.ok(onChain.active)
    // An hour from the purchase's block time (the chain's clock, which runs ahead of the wall clock here).
    const hash = (await done.getAttribute('data-transaction')) as `0x${string}`
    const receipt = await dev.chain.publicClient.getTransactionReceipt({ hash })
    const block = await dev.chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })
    assert.equal(endsAt, Number(block.timestamp) + 3600)
    purchase = { endsAt, subscriber: buyer.account.toLowerCase() }
    await page.screenshot({ path: join(SCREENSHOTS, 'product.png'), fullPage: true })
  })

  it('shows the subscription, active with its end time, from the product page', { timeout: 60_000 }, async () => {
    await page.click('[data-testid="buy-subscriptions-link"]')
    const row = page.locator(`tr[data-testid="subscription-row"][data-product-id="${productId}"]`)
    await row.waitFor({ timeout: 30_000 })
    assert.equal(await page.locator('[data-testid="subscriber"]').textContent(), purchase.subscriber)
    assert.equal(await row.getAttribute('data-active'), 'true')
    assert.equal(Number(await row.getAttribute('data-ends-at')), purchase.endsAt)
    assert.match(
      (await row.textContent()) ?? '',
      new RegExp(new Date(purchase.endsAt * 1000).toISOString().slice(0, 19).replace('T', ' ')),
    )
    assert.match((await row.locator('[data-testid="subscription-state"]').textContent()) ?? '', /^active, /)
    const { body } = await api<SubscriptionsResponse>(`/api/subscriptions/${purchase.subscriber}`)
    assert.deepEqual(body.subscriptions, [
      { productId, productName: 'Weather feed', endsAt: purchase.endsAt, active: true },
    ])
    await page.screenshot({ path: join(SCREENSHOTS, 'subscriptions.png'), fullPage: true })
  })

  it('shows the union’s members and the revenue less the admin fee', { timeout: 60_000 }, async () => {
    await page.goto(`${dev.explorerUrl!}#/dataunions`)
    const listed = page.locator(`tr[data-testid="dataunion-row"][data-address="${union.toLowerCase()}"]`)
    await listed.waitFor({ timeout: 30_000 })
    assert.match((await listed.textContent()) ?? '', /10\.00 %.*3\.6.*2 \/ 2.*Weather stations/)
    await page.screenshot({ path: join(SCREENSHOTS, 'dataunions.png'), fullPage: true })

    await listed.locator('a').click()
    await page
      .locator('[data-testid="dataunion-address"]', { hasText: union.toLowerCase() })
      .waitFor({ timeout: 30_000 })
    assert.equal(await page.locator('[data-testid="dataunion-revenue"]').textContent(), '3.6')
    // 10 % to the admin; the rest split 1 : 3 by weight.
    assert.equal(await page.locator('[data-testid="dataunion-members-revenue"]').textContent(), '3.24')
    const earned = async (member: Address) =>
      page
        .locator(`tr[data-testid="member-row"][data-address="${member.toLowerCase()}"] [data-testid="member-earned"]`)
        .textContent()
    assert.equal(await earned(members[0]!), '0.81')
    assert.equal(await earned(members[1]!), '2.43')
    assert.equal(await page.locator('tr[data-testid="member-row"][data-status="active"]').count(), 2)
    // The union's creation at 0, then the purchase.
    assert.equal(await page.locator('[data-testid="revenue-chart"]').getAttribute('data-points'), '2')
    assert.ok((await page.locator('[data-testid="revenue-chart"] canvas').count()) > 0)
    await page.screenshot({ path: join(SCREENSHOTS, 'dataunion.png'), fullPage: true })

    const { body } = await api<DataUnionDetails>(`/api/dataunions/${union}`)
    assert.equal(body.revenue.length, 1)
    assert.deepEqual(
      { amount: body.revenue[0]!.amount, adminFee: body.revenue[0]!.adminFee },
      { amount: '3.6', adminFee: '0.36' },
    )
  })

  it('lists delisted products only when asked', { timeout: 60_000 }, async () => {
    const stream = await dev.chain.registryFor(SELLER).createStream('/old-weather')
    const old = await seller.createProduct({
      name: 'Old weather',
      streams: [stream.id],
      beneficiary: seller.account,
      prices: [{ token: seller.token, pricePerSecond: 1n }],
    })
    await seller.delistProduct(old.id)
    const ids = async (query: string) =>
      (await api<ProductsList>(`/api/products${query}`)).body.products.map((product) => product.id)
    assert.ok(!(await ids('')).includes(old.id))
    assert.ok((await ids('?all=1')).includes(old.id))
    const refused = await buy(old.id, JSON.stringify({ account: 'dev-6', seconds: 60 }))
    assert.equal(refused.status, 409)
    assert.equal(refused.body.error.code, 'PRODUCT_NOT_LISTED')
  })

  it('answers bad input with clear messages', { timeout: 60_000 }, async () => {
    const expectError = async (
      answer: Promise<{ status: number; body: ApiError }>,
      status: number,
      code: string,
      message?: RegExp,
    ) => {
      const { status: got, body } = await answer
      assert.equal(got, status, JSON.stringify(body))
      assert.equal(body.error.code, code)
      if (message !== undefined) assert.match(body.error.message, message)
    }
    await expectError(api('/api/products/999'), 404, 'PRODUCT_NOT_FOUND')
    await expectError(api('/api/products/abc'), 400, 'INVALID_PRODUCT_ID', /whole number/)
    await expectError(api('/api/products/0'), 400, 'INVALID_PRODUCT_ID')
    await expectError(api('/api/products?all=maybe'), 400, 'INVALID_QUERY')
    await expectError(api('/api/subscriptions/nobody'), 400, 'INVALID_ADDRESS', /0x \+ 40 hex digits/)
    await expectError(api('/api/dataunions/0x1234'), 400, 'INVALID_ADDRESS')
    const stranger = addressFromPrivateKey(generatePrivateKey())
    await expectError(api(`/api/dataunions/${stranger}`), 404, 'DATA_UNION_NOT_FOUND', /not a Data Union/)
    assert.deepEqual((await api<SubscriptionsResponse>(`/api/subscriptions/${stranger}`)).body.subscriptions, [])

    await expectError(buy(productId, 'not json'), 400, 'INVALID_BODY', /must be JSON/)
    // Another site's page can't spend the dev keys: a text/plain form post, or a request from its origin.
    const valid = JSON.stringify({ account: 'dev-7', seconds: 60 })
    const headers = (extra: Record<string, string>) => ({ method: 'POST', headers: extra, body: valid })
    await expectError(api(`/api/products/${productId}/buy`, headers({ 'content-type': 'text/plain' })), 415, 'NOT_JSON')
    await expectError(
      api(
        `/api/products/${productId}/buy`,
        headers({ 'content-type': 'application/json', origin: 'https://evil.example' }),
      ),
      403,
      'FOREIGN_ORIGIN',
      /evil\.example/,
    )
    await expectError(buy(productId, '[]'), 400, 'INVALID_BODY')
    await expectError(buy(productId, '{}'), 400, 'INVALID_BODY', /account/)
    await expectError(buy(productId, JSON.stringify({ account: 'dev-7', seconds: -5 })), 400, 'INVALID_BODY', /seconds/)
    await expectError(buy(productId, JSON.stringify({ account: 'dev-7', seconds: 1.5 })), 400, 'INVALID_BODY')
    await expectError(buy(productId, JSON.stringify({ account: 'dev-7', seconds: '3600' })), 400, 'INVALID_BODY')
    await expectError(buy(productId, JSON.stringify({ account: 'dev-7', seconds: 60, tip: 1 })), 400, 'INVALID_BODY')
    await expectError(
      buy(productId, JSON.stringify({ account: 'dev-7', seconds: 60, token: 'RNL' })),
      400,
      'INVALID_BODY',
      /token/,
    )
    await expectError(
      buy(productId, JSON.stringify({ account: 'mallory', seconds: 60 })),
      400,
      'UNKNOWN_ACCOUNT',
      /dev-7/,
    )
    await expectError(buy(productId, JSON.stringify({ account: 'dev-7', seconds: 10 })), 400, 'INVALID_PERIOD')
    await expectError(
      buy(productId, JSON.stringify({ account: 'dev-7', seconds: 60, token: stranger })),
      400,
      'TOKEN_NOT_ACCEPTED',
    )
    await expectError(buy(999, JSON.stringify({ account: 'dev-7', seconds: 60 })), 404, 'PRODUCT_NOT_FOUND')
    await expectError(buy('x', JSON.stringify({ account: 'dev-7', seconds: 60 })), 400, 'INVALID_PRODUCT_ID')
    await expectError(
      buy(productId, JSON.stringify({ account: 'x'.repeat(10_000), seconds: 60 })),
      413,
      'BODY_TOO_LARGE',
    )

    // The pages say so in words.
    await page.goto(`${dev.explorerUrl!}#/product/999`)
    await page.locator('[data-testid="problem"]', { hasText: /product|Product/ }).waitFor({ timeout: 30_000 })
    await page.goto(`${dev.explorerUrl!}#/dataunion/0x1234`)
    await page.locator('[data-testid="problem"]', { hasText: '0x + 40 hex digits' }).waitFor({ timeout: 30_000 })
    await page.goto(`${dev.explorerUrl!}#/product/${productId}`)
    await page.fill('[data-testid="buy-amount"]', '10')
    await page.selectOption('[data-testid="buy-unit"]', 'seconds')
    await page.click('[data-testid="buy-submit"]')
    await page
      .locator('[data-testid="buy-result"] [data-testid="problem"]', { hasText: /^The purchase failed: / })
      .waitFor({ timeout: 30_000 })
    assert.deepEqual(
      pageErrors.filter((error) => !/Failed to load resource/.test(error)),
      [],
      'no errors in the page besides the API answers it shows',
    )
  })

  it('refuses to buy when the explorer has no dev accounts', { timeout: 60_000 }, async () => {
    const client = createRunnelClient({
      network: dev.network,
      chain: { rpcUrl: dev.rpcUrl, market: dev.chain.deployment.market },
    })
    const readOnly = new ExplorerServer(client, { port: 0 })
    try {
      const url = await readOnly.start()
      const response = await fetch(`${url}api/products/${productId}/buy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ account: 'dev-7', seconds: 3600 }),
      })
      assert.equal(response.status, 403)
      const body = (await response.json()) as ApiError
      assert.equal(body.error.code, 'BUYING_DISABLED')
      assert.match(body.error.message, /no dev accounts/)
      assert.deepEqual(await (await fetch(`${url}api/dev-accounts`)).json(), { accounts: [] })
      // It still reads.
      assert.equal(
        ((await (await fetch(`${url}api/products/${productId}`)).json()) as { name: string }).name,
        'Weather feed',
      )
    } finally {
      await readOnly.stop()
      await client.destroy()
    }
  })
})
