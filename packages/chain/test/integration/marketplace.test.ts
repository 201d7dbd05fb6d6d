import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { parseUnits, type Address } from 'viem'
import type { RunnelMarket } from '../../src/index.js'
import { assertChainError, startTestChain, type TestChain } from '../fixtures.js'

const rnl = (amount: string): bigint => parseUnits(amount, 18)

describe('marketplace', () => {
  let dev: TestChain
  let seller: RunnelMarket
  let buyer: RunnelMarket
  let streamId: string
  let otherStream: string
  let token: Address

  before(async () => {
    dev = await startTestChain()
    seller = dev.marketFor(1)
    buyer = dev.marketFor(2)
    token = dev.deployment.incentives.token
    streamId = (await dev.registryFor(1).createStream('/market/weather')).id
    otherStream = (await dev.registryFor(3).createStream('/market/not-yours')).id
  })
  after(() => dev?.stop())

  it('sells an hour of subscribe permission on every stream of a product, and buying again extends it', async () => {
    const registry = dev.registryFor(1)
    const second = (await registry.createStream('/market/wind')).id
    const product = await seller.createProduct({
      name: 'Weather',
      streams: [streamId, second],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: rnl('0.001') }],
      minimumSeconds: 60,
      termsUri: 'https://example.com/terms',
    })
    assert.equal(product.listed, true)
    assert.deepEqual(product.streams, [streamId, second])
    const sellerBefore = await seller.tokenBalance()
    const first = await buyer.buy(product.id, { seconds: 3600 })
    assert.equal(first.paid, rnl('3.6'))
    assert.equal(await seller.tokenBalance(), sellerBefore + rnl('3.6'))
    for (const id of [streamId, second]) {
      assert.equal(await registry.hasPermission(id, buyer.account, 'subscribe'), true)
      const permissions = await registry.getUserPermissions(id, buyer.account)
      assert.equal(permissions.subscribeExpiration, BigInt(first.endsAt))
      assert.equal(permissions.publishExpiration, 0n, 'a purchase gives subscribe only')
    }
    const again = await buyer.buy(product.id, { seconds: 600 })
    assert.equal(again.endsAt, first.endsAt + 600, 'a second purchase extends from the end of the first')
    const subscription = await buyer.subscription(product.id)
    assert.equal(subscription.endsAt, again.endsAt)
    assert.equal(subscription.active, true)
    assert.deepEqual(
      (await buyer.subscriptionsOf()).map((s) => s.productId),
      [product.id],
    )

    await dev.increaseTime(3600 + 601)
    assert.equal((await buyer.subscription(product.id)).active, false)
    assert.equal(await registry.hasPermission(streamId, buyer.account, 'subscribe'), false)
    const renewed = await buyer.buy(product.id, { seconds: 60 })
    assert.equal(renewed.endsAt, (await buyer.chainTime()) + 60, 'after expiry a purchase starts from now')
  })

  it('never shortens a longer permission the stream owner gave', async () => {
    const registry = dev.registryFor(1)
    const id = (await registry.createStream('/market/forever')).id
    await registry.grantPermission(id, buyer.account, 'subscribe')
    const product = await seller.createProduct({
      name: 'Forever',
      streams: [id],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 1n }],
    })
    await buyer.buy(product.id, { seconds: 60 })
    assert.equal((await registry.getUserPermissions(id, buyer.account)).subscribeExpiration, 2n ** 64n - 1n)
  })

  it('lets only the owner update and delist; a delisted product is not for sale', async () => {
    const product = await seller.createProduct({
      name: 'Listing',
      streams: [streamId],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 10n }],
    })
    await assertChainError(buyer.delistProduct(product.id), 'PERMISSION_DENIED', /doesn't own product/)
    const updated = await seller.updateProduct(product.id, {
      name: 'Listing v2',
      streams: [streamId],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 20n }],
      minimumSeconds: 10,
    })
    assert.equal(updated.name, 'Listing v2')
    assert.deepEqual(updated.prices, [{ token, pricePerSecond: 20n }])
    await seller.delistProduct(product.id)
    assert.ok(!(await buyer.listProducts()).some((p) => p.id === product.id))
    assert.ok((await buyer.listProducts({ includeDelisted: true })).some((p) => p.id === product.id))
    await assertChainError(buyer.buy(product.id, { seconds: 60 }), 'PRODUCT_NOT_LISTED')
    await seller.relistProduct(product.id)
    await buyer.buy(product.id, { seconds: 60 })
  })

  it('refuses bad purchases with typed errors', async () => {
    const product = await seller.createProduct({
      name: 'Guarded',
      streams: [streamId],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 5n }],
      minimumSeconds: 100,
    })
    const notAccepted = dev.deployment.streamRegistry
    await assertChainError(buyer.buy(product.id, { seconds: 3600, token: notAccepted }), 'TOKEN_NOT_ACCEPTED')
    await assertChainError(buyer.buy(product.id, { seconds: 0 }), 'INVALID_PERIOD')
    await assertChainError(
      buyer.buy(product.id, { seconds: 99 }),
      'INVALID_PERIOD',
      /shorter than the product's minimum of 100/,
    )
    await assertChainError(buyer.buy(product.id, { seconds: 2 ** 40 }), 'INVALID_PERIOD', /longer than/)
    await assertChainError(buyer.buy(9999, { seconds: 3600 }), 'PRODUCT_NOT_FOUND')
    // A price raised in front of the purchase: the buyer's limit holds.
    await assertChainError(
      buyer.buy(product.id, { seconds: 3600, maxPricePerSecond: 4n }),
      'PRICE_ABOVE_LIMIT',
      /above the 4 you accepted/,
    )
    // A price so high that the cost overflows uint256.
    const huge = await seller.createProduct({
      name: 'Overflow',
      streams: [streamId],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 2n ** 250n }],
    })
    await assertChainError(buyer.buy(huge.id, { seconds: 3600 }), 'INVALID_PERIOD', /overflows/)
    // A buyer without enough tokens.
    const dear = await seller.createProduct({
      name: 'Dear',
      streams: [streamId],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: rnl('1000000') }],
    })
    await assertChainError(buyer.buy(dear.id, { seconds: 60 }), 'INSUFFICIENT_FUNDS')
  })

  it('lets only a holder of grant on a stream sell it', async () => {
    await assertChainError(
      seller.createProduct({
        name: 'Stolen',
        streams: [otherStream],
        beneficiary: seller.account,
        prices: [{ token, pricePerSecond: 1n }],
      }),
      'PERMISSION_DENIED',
    )
    // Even when the stream's owner granted the marketplace for a product of its own.
    const owner = dev.marketFor(3)
    await owner.createProduct({
      name: 'Owned',
      streams: [otherStream],
      beneficiary: owner.account,
      prices: [{ token, pricePerSecond: 1n }],
    })
    await assertChainError(
      seller.createProduct({
        name: 'Stolen again',
        streams: [otherStream],
        beneficiary: seller.account,
        prices: [{ token, pricePerSecond: 1n }],
      }),
      'PERMISSION_DENIED',
      /only a holder of grant/,
    )
  })

  it('refuses a purchase once the stream owner revokes the marketplace', async () => {
    const registry = dev.registryFor(1)
    const id = (await registry.createStream('/market/revoked')).id
    const product = await seller.createProduct({
      name: 'Revoked',
      streams: [id],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 1n }],
    })
    await registry.revokePermission(id, dev.deployment.market.marketplace, 'grant')
    await assertChainError(buyer.buy(product.id, { seconds: 60 }), 'MARKETPLACE_NOT_GRANTED')
  })

  it("stops selling a stream once the product's owner loses grant on it, and never hands a product to a non-granter", async () => {
    const owner = dev.registryFor(3)
    const id = (await owner.createStream('/market/shared')).id
    // The stream's owner lets the seller sell it, then changes its mind.
    await owner.grantPermission(id, seller.account, 'grant')
    const product = await seller.createProduct({
      name: 'Shared',
      streams: [id],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 1n }],
    })
    await assertChainError(
      seller.transferProductOwnership(product.id, buyer.account),
      'PERMISSION_DENIED',
      /only a holder of grant/,
    )
    await buyer.buy(product.id, { seconds: 60 })
    await owner.revokePermission(id, seller.account, 'grant')
    await assertChainError(
      buyer.buy(product.id, { seconds: 60 }),
      'PRODUCT_NOT_LISTED',
      /its owner .* no longer holds grant on .*\/market\/shared/,
    )
  })

  it('refuses invalid products', async () => {
    const base = {
      name: 'x',
      streams: [streamId],
      beneficiary: seller.account,
      prices: [{ token, pricePerSecond: 1n }],
    }
    await assertChainError(seller.createProduct({ ...base, name: '' }), 'INVALID_ARGUMENT', /name/)
    await assertChainError(seller.createProduct({ ...base, streams: [] }), 'INVALID_ARGUMENT', /1\.\.20 streams/)
    await assertChainError(seller.createProduct({ ...base, prices: [] }), 'INVALID_ARGUMENT', /1\.\.8 tokens/)
    await assertChainError(
      seller.createProduct({ ...base, prices: [{ token: seller.account, pricePerSecond: 1n }] }),
      'INVALID_ARGUMENT',
      /must be a contract/,
    )
    await assertChainError(
      seller.createProduct({ ...base, prices: [base.prices[0]!, base.prices[0]!] }),
      'INVALID_ARGUMENT',
      /priced twice/,
    )
    await assertChainError(
      seller.createProduct({ ...base, beneficiary: '0x0000000000000000000000000000000000000000' }),
      'INVALID_ARGUMENT',
      /beneficiary/,
    )
    await assertChainError(seller.getProduct(0), 'INVALID_ARGUMENT')
  })
})
