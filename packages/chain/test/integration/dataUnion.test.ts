import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  createWalletClient,
  custom,
  getAddress,
  parseUnits,
  type Abi,
  type Address,
  type TransactionReceipt,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { RunnelMarket, dataUnionAbi, runnelTokenAbi, toChainError } from '../../src/index.js'
import { runnelTokenBytecode } from '../../src/generated/contracts.js'
import { PRECISION } from '../dataUnionModel.js'
import { assertChainError, startTestChain, type TestChain } from '../fixtures.js'

const rnl = (amount: string): bigint => parseUnits(amount, 18)
const FEE_BPS = 1000
const WEIGHTS = [1n, 2n, 3n] as const
// Dev accounts: 1 administers the unions and sells, 2 is a join agent, 3–5 are members, 6 pays revenue,
// 7 relays signed withdrawals, 8 buys, 9 is an outsider.
const ADMIN = 1
const AGENT = 2
const MEMBERS = [3, 4, 5] as const
const PAYER = 6
const RELAYER = 7
const BUYER = 8
const OUTSIDER = 9

/** What the contract's rule gives each member of one revenue arriving at a union with no carry yet. */
function expectedSplit(revenue: bigint, feeBps: bigint, weights: readonly bigint[]) {
  const fee = (revenue * feeBps) / 10_000n
  const totalWeight = weights.reduce((a, b) => a + b, 0n)
  const scaled = (revenue - fee) * PRECISION
  const delta = scaled / totalWeight
  const carry = scaled - delta * totalWeight
  const earned = weights.map((w) => (w * delta) / PRECISION)
  // What stays unpaid: each member's fraction of a wei and the carried remainder, to the scaled unit.
  const dustScaled = weights.reduce((sum, w) => sum + ((w * delta) % PRECISION), 0n) + carry
  return { fee, delta, carry, earned, dustScaled }
}

describe('Data Union', () => {
  let dev: TestChain
  let admin: RunnelMarket
  let agent: RunnelMarket
  let token: Address
  let streamId: string
  let otherToken: Address

  before(async () => {
    dev = await startTestChain()
    admin = dev.marketFor(ADMIN)
    agent = dev.marketFor(AGENT)
    token = dev.deployment.incentives.token
    streamId = (await dev.registryFor(ADMIN).createStream('/dataunion/weather')).id
    // An ERC-1363 token of no union: a second RunnelToken, minted to the payer.
    const deployer = dev.walletFor(0)
    const hash = await deployer.deployContract({
      abi: runnelTokenAbi,
      bytecode: runnelTokenBytecode,
      args: [deployer.account.address],
    })
    otherToken = (await dev.publicClient.waitForTransactionReceipt({ hash })).contractAddress!
    await send(0, otherToken, runnelTokenAbi, 'mint', [account(PAYER), rnl('1000')])
  })
  after(() => dev?.stop())

  function account(index: number): Address {
    return dev.walletFor(index).account.address
  }

  /** Sends a transaction as dev account `index`, with reverts decoded into ChainErrors. */
  async function send(
    index: number,
    address: Address,
    abi: Abi,
    functionName: string,
    args: readonly unknown[],
  ): Promise<TransactionReceipt> {
    try {
      const wallet = dev.walletFor(index)
      const { request } = await dev.publicClient.simulateContract({
        address,
        abi: [...abi, ...dataUnionAbi.filter((item) => item.type === 'error')],
        functionName,
        args,
        account: wallet.account,
      } as never)
      const hash = await wallet.writeContract(request as never)
      return await dev.publicClient.waitForTransactionReceipt({ hash })
    } catch (err) {
      throw toChainError(err)
    }
  }

  /** A union by the admin (10% fee, account 2 its join agent) with accounts 3–5 as members of weights 1, 2, 3. */
  async function createUnion(): Promise<Address> {
    const union = await admin.createDataUnion({ adminFeeBps: FEE_BPS, joinAgents: [account(AGENT)] })
    await agent.addMembers(
      union,
      MEMBERS.map((m, i) => ({ address: account(m), weight: WEIGHTS[i]! })),
    )
    return union
  }

  async function earnedOf(union: Address): Promise<bigint[]> {
    return Promise.all(MEMBERS.map(async (m) => (await admin.memberInfo(union, account(m))).earned))
  }

  /** Asserts one revenue of `revenue` into a fresh union split exactly as the rule says, and that nothing is lost. */
  async function assertSplit(union: Address, revenue: bigint): Promise<void> {
    const expected = expectedSplit(revenue, BigInt(FEE_BPS), WEIGHTS)
    const [earned, info, balance] = await Promise.all([
      earnedOf(union),
      admin.getDataUnion(union),
      admin.tokenBalance(union),
    ])
    assert.deepEqual(earned, expected.earned, 'each member earns floor(w·Δindex / 1e18)')
    assert.equal(info.adminEarned, expected.fee, 'the admin earns floor(revenue · 10%)')
    assert.equal(info.totalRevenue, revenue)
    assert.equal(balance, revenue)
    const dust = revenue - earned.reduce((a, b) => a + b, 0n) - info.adminEarned
    assert.equal(dust * PRECISION, expected.dustScaled, 'the dust is the fractions of a wei and the carry')
    assert.ok(dust >= 0n && dust <= BigInt(MEMBERS.length + 1), `dust ${dust} wei`)
  }

  it('applies a raised admin fee only a week later (no raise in front of a purchase); a lower one at once', async () => {
    const union = await createUnion()
    await admin.setAdminFee(union, 5_000)
    // The raise is scheduled: revenue arriving now is still shared at 10%.
    await send(PAYER, token, runnelTokenAbi, 'transfer', [union, rnl('100')])
    await dev.marketFor(OUTSIDER).refreshRevenue(union)
    assert.equal((await admin.getDataUnion(union)).adminEarned, rnl('10'))
    assert.equal((await admin.getDataUnion(union)).adminFeeBps, FEE_BPS)
    await dev.increaseTime(7 * 24 * 3600)
    await send(PAYER, token, runnelTokenAbi, 'transfer', [union, rnl('100')])
    await dev.marketFor(OUTSIDER).refreshRevenue(union)
    const raised = await admin.getDataUnion(union)
    assert.equal(raised.adminFeeBps, 5_000, 'a week later the raise applies')
    assert.equal(raised.adminEarned, rnl('10') + rnl('50'))
    // Lowering applies at once, and cancels a raise still waiting.
    await admin.setAdminFee(union, 9_000)
    await admin.setAdminFee(union, 1_000)
    await dev.increaseTime(7 * 24 * 3600)
    await send(PAYER, token, runnelTokenAbi, 'transfer', [union, rnl('100')])
    await dev.marketFor(OUTSIDER).refreshRevenue(union)
    const lowered = await admin.getDataUnion(union)
    assert.equal(lowered.adminFeeBps, 1_000)
    assert.equal(lowered.adminEarned, rnl('70'))
  })

  it('splits a plain transfer, accounted by refreshRevenue, by weight after the admin fee, to the wei', async () => {
    const union = await createUnion()
    const revenue = rnl('100') + 7n
    await send(PAYER, token, runnelTokenAbi, 'transfer', [union, revenue])
    assert.deepEqual(await earnedOf(union), [0n, 0n, 0n], 'a plain transfer counts only once refreshed')
    assert.equal(await dev.marketFor(OUTSIDER).refreshRevenue(union), revenue, 'anyone may refresh')
    assert.equal(await dev.marketFor(OUTSIDER).refreshRevenue(union), 0n, 'a second refresh finds nothing new')
    await assertSplit(union, revenue)
    // The same numbers by hand: fee 10 RNL, share 90 RNL + 7 wei over weight 6 gives an index of
    // 15.000000000000000001166666666666666666 (carry 4); 1, 2 and 3 times it, floored, and one wei of dust.
    assert.deepEqual(await earnedOf(union), [rnl('15') + 1n, rnl('30') + 2n, rnl('45') + 3n])
    assert.equal((await admin.getDataUnion(union)).adminEarned, rnl('10'))
  })

  it('accounts an ERC-1363 transferAndCall of its token as revenue at once', async () => {
    const union = await createUnion()
    const revenue = rnl('33.333333333333333333')
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, revenue])
    await assertSplit(union, revenue)
  })

  it('shares a marketplace purchase of a product whose beneficiary is the union', async () => {
    const union = await createUnion()
    const product = await admin.createProduct({
      name: 'Crowd weather',
      streams: [streamId],
      beneficiary: union,
      prices: [{ token, pricePerSecond: 10n ** 15n + 3n }],
    })
    assert.equal(product.beneficiaryIsDataUnion, true)
    const purchase = await dev.marketFor(BUYER).buy(product.id, { seconds: 3601 })
    assert.equal(purchase.paid, (10n ** 15n + 3n) * 3601n)
    await assertSplit(union, purchase.paid)
  })

  it('shares later revenue by the new weights after a weight change, and keeps what was earned before', async () => {
    const union = await createUnion()
    const first = expectedSplit(rnl('60'), BigInt(FEE_BPS), WEIGHTS)
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('60')])
    await agent.setMemberWeight(union, account(MEMBERS[2]), 1n)
    assert.equal((await admin.memberInfo(union, account(MEMBERS[2]))).weight, 1n)
    assert.equal((await admin.getDataUnion(union)).totalWeight, 4n)
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('40')])
    // Second revenue: 36 RNL over weights 1, 2, 1 (9, 18, 9 RNL); the first split exactly (no carry).
    assert.equal(first.carry, 0n)
    assert.deepEqual(await earnedOf(union), [
      first.earned[0]! + rnl('9'),
      first.earned[1]! + rnl('18'),
      first.earned[2]! + rnl('9'),
    ])
  })

  it('keeps what a parted member earned, pays it nothing while parted, and shares with it again once re-joined', async () => {
    const union = await createUnion()
    const parting = account(MEMBERS[1])
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('60')])
    const before = await admin.memberInfo(union, parting)
    assert.equal(before.earned, rnl('18'))
    await dev.marketFor(MEMBERS[1]).partMember(union)
    const parted = await admin.memberInfo(union, parting)
    assert.equal(parted.status, 'parted')
    assert.equal(parted.weight, 0n)
    assert.equal((await admin.getDataUnion(union)).activeMemberCount, 2)

    // 40 RNL while parted: 36 RNL over weights 1 and 3.
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('40')])
    assert.deepEqual(await earnedOf(union), [rnl('9') + rnl('9'), rnl('18'), rnl('27') + rnl('27')])
    await dev.marketFor(MEMBERS[1]).withdraw(union, { amount: rnl('5') })
    assert.equal((await admin.memberInfo(union, parting)).withdrawable, rnl('13'), 'a parted member withdraws')

    await agent.addMembers(union, [{ address: parting, weight: 2n }])
    const rejoined = await admin.memberInfo(union, parting)
    assert.equal(rejoined.status, 'active')
    assert.equal(rejoined.earned, rnl('18'), 're-joining neither adds nor loses earnings')
    assert.equal((await admin.getDataUnion(union)).memberCount, 3, 'a re-join is not a new member')
    // 20 RNL after re-joining: 18 RNL over weights 1, 2, 3 again.
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('20')])
    assert.deepEqual(await earnedOf(union), [rnl('18') + rnl('3'), rnl('18') + rnl('6'), rnl('54') + rnl('9')])
    assert.equal((await admin.memberInfo(union, parting)).withdrawn, rnl('5'))
  })

  it('withdraws to the member itself and to another address, and pays the admin its fees', async () => {
    const union = await createUnion()
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('60')])
    const member = dev.marketFor(MEMBERS[2])
    const other = account(OUTSIDER)
    const [selfBefore, otherBefore] = await Promise.all([member.tokenBalance(), member.tokenBalance(other)])
    assert.equal(await member.withdraw(union, { amount: rnl('10') }), rnl('10'))
    assert.equal(await member.tokenBalance(), selfBefore + rnl('10'))
    assert.equal(await member.withdraw(union, { to: other }), rnl('17'), 'withdraws everything left')
    assert.equal(await member.tokenBalance(other), otherBefore + rnl('17'))
    const info = await member.memberInfo(union)
    assert.deepEqual([info.earned, info.withdrawn, info.withdrawable], [rnl('27'), rnl('27'), 0n])
    await assertChainError(member.withdraw(union), 'INVALID_ARGUMENT', /above zero/)

    assert.equal(await admin.withdrawAdminFees(union), rnl('6'))
    const stats = await admin.getDataUnion(union)
    assert.equal(stats.adminWithdrawn, rnl('6'))
    assert.equal(stats.totalWithdrawn, rnl('27'))
    assert.equal(await admin.tokenBalance(union), rnl('27'), 'what members 1 and 2 have not withdrawn')
  })

  it("sends a member's signed withdrawal from another account, for a member whose key never held gas", async () => {
    const union = await createUnion()
    const gaslessAccount = privateKeyToAccount(generatePrivateKey())
    const gasless = new RunnelMarket({
      publicClient: dev.publicClient,
      walletClient: createWalletClient({
        chain: dev.viemChain,
        transport: custom(dev.chain.provider),
        account: gaslessAccount,
      }),
      addresses: dev.deployment.market,
      registry: dev.deployment.streamRegistry,
      token,
    })
    await agent.addMembers(union, [{ address: gaslessAccount.address, weight: 4n }])
    // 100 RNL: 90 RNL over weights 1, 2, 3, 4, so 36 RNL for the gasless member.
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('100')])
    assert.equal((await gasless.memberInfo(union)).withdrawable, rnl('36'))
    assert.equal(await dev.publicClient.getBalance({ address: gaslessAccount.address }), 0n)

    const signed = await gasless.signWithdrawal(union, { amount: rnl('30') })
    assert.equal(signed.member, gaslessAccount.address)
    const relayer = dev.marketFor(RELAYER)
    assert.equal(await relayer.withdrawSigned(signed), rnl('30'))
    assert.equal(await gasless.tokenBalance(), rnl('30'))
    assert.equal(await dev.publicClient.getBalance({ address: gaslessAccount.address }), 0n, 'the member paid no gas')
    await assertChainError(relayer.withdrawSigned(signed), 'INVALID_SIGNATURE', /used already/)

    // The rest, to another address, signed for everything withdrawable.
    const rest = await gasless.signWithdrawal(union, { to: account(OUTSIDER) })
    assert.equal(rest.amount, rnl('6'))
    const outsiderBefore = await relayer.tokenBalance(account(OUTSIDER))
    assert.equal(await dev.marketFor(OUTSIDER).withdrawSigned(rest), rnl('6'))
    assert.equal(await relayer.tokenBalance(account(OUTSIDER)), outsiderBefore + rnl('6'))
    assert.equal((await gasless.memberInfo(union)).withdrawable, 0n)
  })

  it('refuses withdrawals that are not the member’s, replayed, expired or above its earnings', async () => {
    const union = await createUnion()
    await send(PAYER, token, runnelTokenAbi, 'transferAndCall', [union, rnl('60')])
    const victim = account(MEMBERS[2])
    const member = dev.marketFor(MEMBERS[2])
    const relayer = dev.marketFor(RELAYER)

    // Someone else's signature for the victim's earnings.
    const forged = await dev.marketFor(OUTSIDER).signWithdrawal(union, { amount: rnl('1'), to: account(OUTSIDER) })
    await assertChainError(relayer.withdrawSigned({ ...forged, member: victim }), 'INVALID_SIGNATURE', /isn't signed/)
    // The member's signature with another recipient or amount than it signed.
    const signed = await member.signWithdrawal(union, { amount: rnl('1') })
    await assertChainError(relayer.withdrawSigned({ ...signed, to: account(OUTSIDER) }), 'INVALID_SIGNATURE')
    await assertChainError(relayer.withdrawSigned({ ...signed, amount: rnl('2') }), 'INVALID_SIGNATURE')
    // Replayed.
    assert.equal(await relayer.withdrawSigned(signed), rnl('1'))
    await assertChainError(relayer.withdrawSigned(signed), 'INVALID_SIGNATURE')
    // Expired.
    const late = await member.signWithdrawal(union, { amount: rnl('1'), validForSeconds: 60 })
    await dev.increaseTime(120)
    await assertChainError(relayer.withdrawSigned(late), 'SIGNATURE_EXPIRED')
    // More than earned (27 RNL earned, 1 withdrawn), directly and signed.
    await assertChainError(
      member.withdraw(union, { amount: rnl('26') + 1n }),
      'INSUFFICIENT_EARNINGS',
      new RegExp(`may withdraw ${rnl('26')}, ${rnl('26') + 1n} asked`),
    )
    const greedy = await member.signWithdrawal(union, { amount: rnl('27') })
    await assertChainError(relayer.withdrawSigned(greedy), 'INSUFFICIENT_EARNINGS')
    await assertChainError(dev.marketFor(OUTSIDER).withdraw(union, { amount: 1n }), 'NOT_MEMBER')
    assert.equal((await member.memberInfo(union)).withdrawable, rnl('26'), 'nothing refused moved a token')
  })

  it('refuses bad membership and fee changes with typed errors', async () => {
    const union = await createUnion()
    const newcomer = getAddress('0x00000000000000000000000000000000000d0001')
    await assertChainError(
      dev.marketFor(OUTSIDER).addMembers(union, [newcomer]),
      'PERMISSION_DENIED',
      /not a join agent/,
    )
    await assertChainError(dev.marketFor(OUTSIDER).partMember(union, account(MEMBERS[0])), 'PERMISSION_DENIED')
    await assertChainError(dev.marketFor(OUTSIDER).setMemberWeight(union, account(MEMBERS[0]), 5n), 'PERMISSION_DENIED')
    await assertChainError(agent.setAdminFee(union, 0), 'PERMISSION_DENIED', /admin/)
    await assertChainError(agent.addMembers(union, [account(MEMBERS[0])]), 'ALREADY_MEMBER')
    await assertChainError(agent.addMembers(union, [newcomer, newcomer]), 'ALREADY_MEMBER', /0x0+d0001/)
    await assertChainError(agent.addMembers(union, [{ address: newcomer, weight: 0n }]), 'INVALID_ARGUMENT', /weight/)
    await assertChainError(agent.setMemberWeight(union, account(MEMBERS[0]), 0n), 'INVALID_ARGUMENT', /weight/)
    await assertChainError(agent.setMemberWeight(union, newcomer, 1n), 'NOT_MEMBER')
    await assertChainError(agent.partMember(union, newcomer), 'NOT_MEMBER')
    await assertChainError(admin.setAdminFee(union, 10_001), 'INVALID_ARGUMENT', /0\.\.10000 basis points/)
    await assertChainError(admin.createDataUnion({ adminFeeBps: 10_001 }), 'INVALID_ARGUMENT', /admin fee/)
    const info = await admin.getDataUnion(union)
    assert.deepEqual([info.memberCount, info.totalWeight, info.adminFeeBps], [3, 6n, FEE_BPS], 'nothing changed')
  })

  it('refuses tokens it cannot pay out: a product priced in another token, and another ERC-1363 token', async () => {
    const union = await createUnion()
    await assertChainError(
      admin.createProduct({
        name: 'Wrong token',
        streams: [streamId],
        beneficiary: union,
        prices: [{ token: otherToken, pricePerSecond: 1n }],
      }),
      'TOKEN_NOT_ACCEPTED',
      /shares revenue in another token/,
    )
    await assertChainError(
      send(PAYER, otherToken, runnelTokenAbi, 'transferAndCall', [union, rnl('1')]),
      'TOKEN_NOT_ACCEPTED',
      /can't pay out token/,
    )
    assert.equal(await admin.tokenBalance(union, otherToken), 0n)
  })

  it('refuses an address that is not a Data Union of the network', async () => {
    const notUnion = dev.deployment.streamRegistry
    await assertChainError(admin.getDataUnion(notUnion), 'DATA_UNION_NOT_FOUND')
    await assertChainError(admin.memberInfo(notUnion), 'DATA_UNION_NOT_FOUND')
    await assertChainError(admin.withdraw(notUnion), 'DATA_UNION_NOT_FOUND')
    await assertChainError(admin.addMembers(notUnion, [account(OUTSIDER)]), 'DATA_UNION_NOT_FOUND')
    // Not even a clone of the union's own code: the implementation was made by no factory call.
    const implementation = await dev.publicClient.readContract({
      address: dev.deployment.market.dataUnionFactory,
      abi: [
        {
          type: 'function',
          name: 'implementation',
          inputs: [],
          outputs: [{ type: 'address' }],
          stateMutability: 'view',
        },
      ],
      functionName: 'implementation',
    })
    await assertChainError(admin.refreshRevenue(implementation), 'DATA_UNION_NOT_FOUND')
  })
})
