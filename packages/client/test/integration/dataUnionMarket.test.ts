import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { RunnelMarket } from '@runnel/chain'
import { systemClock, type Clock } from '@runnel/protocol'
import { createWalletClient, custom, parseUnits, type Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { ClientError, type RunnelClient } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

/**
 * The end-to-end flow: a Data Union of three members publishes to an encrypted stream; a buyer buys an hour of
 * it in the network token on the marketplace and reads the data; after the hour (the dev chain's clock moved on) and a
 * rekey it reads nothing new; the revenue minus the admin fee is shared by weight, to the wei; a member holding no gas
 * withdraws through a signature someone else sends.
 */
describe('a Data Union sells its stream on the marketplace', () => {
  let network: TestNetwork
  let admin: RunnelClient
  let members: RunnelClient[]
  let buyer: RunnelClient
  let control: RunnelClient
  let union: Address
  let streamId: string
  let productId: number
  // The chain's clock, which the test moves an hour ahead.
  let chainClockOffsetMs = 0
  const buyerClock: Clock = { ...systemClock, now: () => Date.now() + chainClockOffsetMs }
  // The third member's key never holds any ETH: publishing needs none, and its withdrawal is sent by someone else.
  const gaslessKey = generatePrivateKey()
  const weights = [1n, 2n, 3n]
  const pricePerSecond = parseUnits('0.001', 18)
  const adminFeeBps = 1000

  before(async () => {
    network = await startTestNetwork()
    admin = network.client(1)
    members = [network.client(2), network.client(3), network.client(0, { auth: { privateKey: gaslessKey } })]
    buyer = network.client(5)
    control = network.client(6)
    ;({ id: streamId } = await admin.createStream('/union/readings'))
    union = await admin.market.createDataUnion({ adminFeeBps, metadata: '{"name":"Readings union"}' })
    await admin.market.addMembers(
      union,
      members.map((m, i) => ({ address: m.address, weight: weights[i]! })),
    )
    for (const member of members) await admin.grantPermissions(streamId, member.address, 'publish')
    await admin.grantPermissions(streamId, control.address, 'subscribe')
    ;({ id: productId } = await admin.market.createProduct({
      name: 'Union readings',
      streams: [streamId],
      beneficiary: union,
      prices: [{ token: admin.market.token, pricePerSecond }],
      minimumSeconds: 60,
    }))
  })
  after(() => network?.stop())

  it('sells an hour, shuts the buyer out after it and a rekey, and shares the revenue to the wei', async () => {
    // The buyer can't read before it buys.
    await assert.rejects(buyer.subscribe(streamId), (err: unknown) => {
      assert.ok(err instanceof ClientError && err.code === 'PERMISSION_DENIED', String(err))
      return true
    })
    assert.equal(await network.dev.publicClient.getBalance({ address: members[2]!.address }), 0n)

    const purchase = await buyer.market.buy(productId, { seconds: 3600 })
    assert.equal(purchase.paid, pricePerSecond * 3600n)

    const bought: unknown[] = []
    const controlled: unknown[] = []
    const buyerErrors: Error[] = []
    buyer.on('error', (err) => buyerErrors.push(err))
    await buyer.subscribe(streamId, (message) => bought.push(message.content))
    await control.subscribe(streamId, (message) => controlled.push(message.content))
    for (const [i, member] of members.entries()) await member.publish(streamId, { member: i, reading: 20 + i })
    await waitFor(
      () => bought.length === 3 && controlled.length === 3,
      60_000,
      'the three readings at the buyer and the control subscriber',
      () => `buyer ${bought.length}, control ${controlled.length}`,
    )
    assert.deepEqual(
      [...bought].sort((a, b) => (a as { member: number }).member - (b as { member: number }).member),
      [0, 1, 2].map((i) => ({ member: i, reading: 20 + i })),
      'the buyer decrypts what the members publish',
    )

    // The hour passes on the chain; every member starts a new key that only key exchange hands out.
    await network.dev.increaseTime(3601)
    chainClockOffsetMs = (await buyer.market.chainTime()) * 1000 - Date.now()
    assert.equal((await buyer.market.subscription(productId)).active, false)
    for (const member of members) await member.updateEncryptionKey({ streamId, distributionMethod: 'rekey' })
    for (const [i, member] of members.entries()) await member.publish(streamId, { member: i, reading: 30 + i })
    await waitFor(
      () =>
        controlled.length === 6 &&
        buyerErrors.some((err) => err instanceof ClientError && err.code === 'KEY_UNAVAILABLE'),
      60_000,
      'the new readings at the control subscriber, and the refused key at the buyer',
      () => `control ${controlled.length}, buyer errors: ${buyerErrors.map(String).join('; ')}`,
    )
    assert.equal(bought.length, 3, 'nothing new readable after expiry and the rekey')
    const refusal = buyerErrors.find((err) => err instanceof ClientError && err.code === 'KEY_UNAVAILABLE')
    assert.match(refusal!.message, /no permission to obtain the key/, 'refused for want of permission, not lost')

    // A fresh subscribe says the permission expired, and when (from a client whose clock agrees with the chain's).
    await assert.rejects(network.client(5, {}, { clock: buyerClock }).subscribe(streamId), (err: unknown) => {
      assert.ok(err instanceof ClientError && err.code === 'PERMISSION_EXPIRED', String(err))
      assert.match(err.message, /permission to subscribe to .*\/union\/readings expired at \d{4}-/)
      return true
    })

    // The revenue: the admin's 10 % off the top, the rest by weight 1:2:3, to the wei.
    const revenue = pricePerSecond * 3600n
    const fee = (revenue * BigInt(adminFeeBps)) / 10_000n
    const info = await admin.market.getDataUnion(union)
    assert.equal(info.totalRevenue, revenue)
    assert.equal(info.adminEarned, fee)
    const totalWeight = weights.reduce((a, b) => a + b)
    for (const [i, member] of members.entries()) {
      const earned = (await admin.market.memberInfo(union, member.address)).earned
      assert.equal(earned, ((revenue - fee) * weights[i]!) / totalWeight, `member ${i}'s share`)
    }

    // The gasless member signs; the admin sends it and pays the gas.
    const gasless = new RunnelMarket({
      publicClient: network.dev.publicClient,
      walletClient: createWalletClient({
        chain: network.dev.viemChain,
        transport: custom(network.dev.chain.provider),
        account: privateKeyToAccount(gaslessKey),
      }),
      addresses: network.dev.deployment.market,
      registry: network.dev.deployment.streamRegistry,
      token: network.dev.deployment.incentives.token,
    })
    const share = ((revenue - fee) * weights[2]!) / totalWeight
    const signed = await gasless.signWithdrawal(union)
    assert.equal(signed.amount, share)
    assert.equal(await admin.market.withdrawSigned(signed), share)
    assert.equal(await admin.market.tokenBalance(gasless.account), share)
    assert.equal(await network.dev.publicClient.getBalance({ address: gasless.account }), 0n, 'still no gas')
    assert.equal((await admin.market.memberInfo(union, gasless.account)).withdrawable, 0n)
  })
})
