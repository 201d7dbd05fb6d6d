// Gas per marketplace and Data Union action as a union grows (10, 100, 1,000 and 10,000 members by default), on the
// embedded dev chain. Revenue raises one per-weight index and a member is settled only when touched, so no action
// loops over members: each action's gas should stay the same at every size. Every action runs from the same
// snapshot of its size, so it meets the same storage state except for what the size changes.
// docs/benchmarks.md ("Marketplace and Data Unions: gas per action") explains the figures.
import { performance } from 'node:perf_hooks'
import {
  getAddress,
  keccak256,
  maxUint256,
  parseUnits,
  toHex,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { startDevChain } from '@runnel/dev-chain'
import {
  DATA_UNION_WITHDRAW_TYPES,
  dataUnionAbi,
  dataUnionDomain,
  marketplaceAbi,
  runnelTokenAbi,
} from '../src/index.js'

const SIZES = (process.env.BENCH_MEMBERS ?? '10,100,1000,10000').split(',').map(Number)
if (SIZES.some((size, i) => !Number.isInteger(size) || size < 10 || size <= (SIZES[i - 1] ?? 0))) {
  throw new RangeError(`BENCH_MEMBERS: ascending integers of at least 10, got ${SIZES.join(', ')}`)
}
/** DataUnion.MAX_BATCH */
const BATCH = 100

const rnl = (amount: string): bigint => parseUnits(amount, 18)
// Odd wei, so that the index division leaves a remainder to carry (a zero carry slot would be cheaper to leave zero).
const REVENUE = rnl('100') + 1n
const WITHDRAWAL = rnl('0.001')
const PRICE_PER_SECOND = 10n ** 12n + 1n
// With these, a purchase's share isn't a multiple of 3, which divides every total weight here (N + 2): the carry
// changes as in most purchases (a carry left unchanged would save 2,800 gas at some sizes and not others).
const BUY_SECONDS = 3601n

// Accounts: 0 deploys; 1 administers the union and sells; 2 buys; 3 is the member who withdraws; 4 the member who is
// parted; 5 pays revenue and relays the signed withdrawal. The member who signs holds a key that never had gas.
const ADMIN = 1
const BUYER = 2
const WITHDRAWER = 3
const PARTED = 4
const PAYER = 5
// A fixed key and deadline make the signature, and so its calldata, the same at every size.
const signer = privateKeyToAccount(keccak256(toHex('runnel market bench: the gasless member')))
const DEADLINE = 2n ** 40n

const started = performance.now()
const dev = await startDevChain({ accounts: 6 })
const { publicClient } = dev
const { token } = dev.deployment.incentives
const { marketplace } = dev.deployment.market
const rpc = (method: string, params: unknown[] = []): Promise<unknown> => dev.chain.provider.request({ method, params })
const account = (index: number): Address => dev.walletFor(index).account.address

interface Call {
  readonly address: Address
  readonly abi: Abi
  readonly functionName: string
  readonly args?: readonly unknown[]
}

async function send(index: number, call: Call): Promise<TransactionReceipt> {
  const hash = await dev.walletFor(index).writeContract(call)
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`${call.functionName} reverted`)
  return receipt
}

const tokenCall = (functionName: string, args: readonly unknown[]): Call => ({
  address: token,
  abi: runnelTokenAbi,
  functionName,
  args,
})

/**
 * The filler members: addresses nobody holds a key of, one per index, with no zero byte (calldata costs 4 gas per zero
 * byte and 16 per other byte, so every batch of 100 costs the same to send).
 */
const filler = (i: number): Address => {
  const bytes: string[] = []
  for (let rest = i, k = 0; k < 4; k++, rest = Math.floor(rest / 255)) {
    bytes.push(((rest % 255) + 1).toString(16).padStart(2, '0'))
  }
  return getAddress(`0x${'ee'.repeat(16)}${bytes.join('')}`)
}

// ---- the shared starting point ----

const setupStarted = performance.now()
const { id: streamId } = await dev.registryFor(ADMIN).createStream('/bench/market')
const market = dev.marketFor(ADMIN)
const union = await market.createDataUnion({ adminFeeBps: 1000, metadata: 'bench' })
const unionCall = (functionName: string, args: readonly unknown[]): Call => ({
  address: union,
  abi: dataUnionAbi,
  functionName,
  args,
})
const toUnion = await market.createProduct({
  name: 'Crowd data',
  streams: [streamId],
  beneficiary: union,
  prices: [{ token, pricePerSecond: PRICE_PER_SECOND }],
})
const toAddress = await market.createProduct({
  name: 'Seller data',
  streams: [streamId],
  beneficiary: account(ADMIN),
  prices: [{ token, pricePerSecond: PRICE_PER_SECOND }],
})
await send(BUYER, tokenCall('approve', [marketplace, maxUint256]))
// The three members every size measures; weight 3 for one makes the total weight N + 2, which the revenue's share
// never divides, so the carried remainder stays nonzero as it would in use.
await send(
  ADMIN,
  unionCall('addMembers', [
    [account(WITHDRAWER), account(PARTED), signer.address],
    [3n, 1n, 1n],
  ]),
)
let members = 3
console.log(`dev chain, union and products ready in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`)

// ---- per size ----

const gas = new Map<string, bigint[]>()
const record = (action: string, receipt: TransactionReceipt): void => {
  const list = gas.get(action) ?? []
  list.push(receipt.gasUsed)
  gas.set(action, list)
}

let snapshot: Hex
/** Runs `action` from the size's snapshot and records the gas of the receipt it returns. */
async function measure(action: string, run: () => Promise<TransactionReceipt>): Promise<void> {
  await rpc('evm_revert', [snapshot])
  snapshot = (await rpc('evm_snapshot')) as Hex
  record(action, await run())
}

async function signedWithdrawal(): Promise<readonly unknown[]> {
  const [nonce, chainId] = await Promise.all([
    publicClient.readContract({ address: union, abi: dataUnionAbi, functionName: 'nonces', args: [signer.address] }),
    publicClient.getChainId(),
  ])
  const deadline = DEADLINE
  const signature = await signer.signTypedData({
    domain: dataUnionDomain(chainId, union),
    types: DATA_UNION_WITHDRAW_TYPES,
    primaryType: 'Withdraw',
    message: { member: signer.address, to: signer.address, amount: WITHDRAWAL, nonce, deadline },
  })
  return [signer.address, signer.address, WITHDRAWAL, deadline, signature]
}

const growth: { size: number; seconds: number; gasPerMember: bigint }[] = []
for (const size of SIZES) {
  const growStarted = performance.now()
  let batchGas = 0n
  while (members < size) {
    const count = Math.min(BATCH, size - members)
    const batch = Array.from({ length: count }, (_, i) => filler(members + i))
    const receipt = await send(ADMIN, unionCall('addMembers', [batch, batch.map(() => 1n)]))
    batchGas += receipt.gasUsed
    members += count
  }
  // Revenue after the members joined, so every measured member has earnings and every index slot is nonzero.
  await send(PAYER, tokenCall('transferAndCall', [union, REVENUE]))
  growth.push({
    size,
    seconds: (performance.now() - growStarted) / 1000,
    gasPerMember: batchGas / BigInt(size - (growth.at(-1)?.size ?? 3)),
  })
  snapshot = (await rpc('evm_snapshot')) as Hex

  await measure('buy (beneficiary a union)', () =>
    send(BUYER, {
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'buy',
      args: [BigInt(toUnion.id), BUY_SECONDS, token, PRICE_PER_SECOND],
    }),
  )
  await measure('buy (beneficiary an address)', () =>
    send(BUYER, {
      address: marketplace,
      abi: marketplaceAbi,
      functionName: 'buy',
      args: [BigInt(toAddress.id), BUY_SECONDS, token, PRICE_PER_SECOND],
    }),
  )
  await measure('join (addMember)', () => send(ADMIN, unionCall('addMember', [filler(size + 1_000_000), 1n])))
  await measure(`addMembers (${BATCH} new members)`, () => {
    const batch = Array.from({ length: BATCH }, (_, i) => filler(size + 2_000_000 + i))
    return send(ADMIN, unionCall('addMembers', [batch, batch.map(() => 1n)]))
  })
  await measure('part (partMember by the admin)', () => send(ADMIN, unionCall('partMember', [account(PARTED)])))
  await measure('setMemberWeight', () => send(ADMIN, unionCall('setMemberWeight', [account(PARTED), 2n])))
  await measure('revenue: refreshRevenue (after a transfer)', async () => {
    await send(PAYER, tokenCall('transfer', [union, REVENUE]))
    return send(PAYER, unionCall('refreshRevenue', []))
  })
  await measure('revenue: transferAndCall', () => send(PAYER, tokenCall('transferAndCall', [union, REVENUE])))
  await measure('withdraw (first, to self)', () =>
    send(WITHDRAWER, unionCall('withdraw', [account(WITHDRAWER), WITHDRAWAL])),
  )
  await measure('withdrawAll (to another address)', () => send(WITHDRAWER, unionCall('withdrawAll', [account(PAYER)])))
  await measure('withdrawSigned (sent by another account)', async () =>
    send(PAYER, unionCall('withdrawSigned', await signedWithdrawal())),
  )
  await measure('withdrawAdminFees', () => send(ADMIN, unionCall('withdrawAdminFees', [account(ADMIN)])))
  await rpc('evm_revert', [snapshot])
  console.log(`N=${size}: measured (${((performance.now() - started) / 1000).toFixed(0)} s so far)`)
}
if ((await publicClient.getBalance({ address: signer.address })) !== 0n) throw new Error('the signer got gas')

// ---- the table ----

const fmt = (n: bigint | number): string => n.toLocaleString('en-US')
const header = ['action', ...SIZES.map((n) => `N=${fmt(n)}`), 'max − min']
const rows = [...gas].map(([action, values]) => {
  const spread = values.reduce((a, b) => (b > a ? b : a)) - values.reduce((a, b) => (b < a ? b : a))
  return [action, ...values.map(fmt), fmt(spread)]
})
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
const line = (cells: readonly string[]): string =>
  `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`
console.log('\nGas used per transaction with N members in the union:\n')
console.log(line(header))
console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`)
for (const row of rows) console.log(line(row))
console.log('\nGrowing the union (addMembers in batches of 100):')
for (const g of growth) {
  console.log(`  to N=${fmt(g.size)}: ${g.seconds.toFixed(1)} s, ${fmt(g.gasPerMember)} gas per member added`)
}
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`)
