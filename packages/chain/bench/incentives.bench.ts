// Gas per incentive action as the number of operators staked on one sponsorship grows (2, 10, 50, 200 by default),
// on the embedded dev chain. Earnings use a reward-per-stake index, so no action loops over operators: each action's
// gas should stay the same at every size. Every size starts from one snapshot (operators created and self-delegated,
// five outside reviewers staked elsewhere), so each action meets the same storage state except for what the size
// changes. docs/benchmarks.md ("Token incentives: gas per action") explains the figures.
import { performance } from 'node:perf_hooks'
import {
  createWalletClient,
  custom,
  encodeAbiParameters,
  parseUnits,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from 'viem'
import { startDevChain } from '@runnel/dev-chain'
import { operatorAbi, operatorFactoryAbi, runnelTokenAbi, sponsorshipsAbi, voteKickAbi } from '../src/index.js'
import { replayPick } from './reviewerPick.js'

const SIZES = (process.env.BENCH_OPERATORS ?? '2,10,50,200').split(',').map(Number)
const LARGEST = Math.max(...SIZES)
// One more operator joins during the run, and a sponsorship takes at most MAX_OPERATORS_LIMIT (1,000).
if (SIZES.some((size) => !Number.isInteger(size) || size < 2 || size > 999)) {
  throw new RangeError(`BENCH_OPERATORS: sizes must be integers 2–999, got ${SIZES.join(', ')}`)
}
/** Operators staked on another sponsorship: the reviewers VoteKick prefers (not staked where the flag is). */
const OUTSIDERS = 5

const rnl = (amount: string): bigint => parseUnits(amount, 18)
const STAKE = rnl('1000')
const SELF_DELEGATION = rnl('10000')
const MIN_STAY_SECONDS = 60n
const VOTING_PERIOD_SECONDS = 3600

// Accounts: 0 deploys and sponsors; 1..LARGEST own the operators staked on the measured sponsorship (O_1..O_N);
// then the operator that joins and leaves (X), the outsiders, and two delegators.
const JOINER = LARGEST + 1
const FIRST_OUTSIDER = LARGEST + 2
const DELEGATOR_1 = FIRST_OUTSIDER + OUTSIDERS
const DELEGATOR_2 = DELEGATOR_1 + 1
/** Owns the operator staked on 1, 8 and then 32 sponsorships (an operator's share value reads each of them). */
const SPREAD = DELEGATOR_2 + 1
const ACCOUNTS = SPREAD + 1
/** Sponsorships per operator: MAX_SPONSORSHIPS_PER_OPERATOR is 32. */
const SPREADS = [1, 8, 32]

const started = performance.now()
const dev = await startDevChain({ accounts: ACCOUNTS })
const { publicClient } = dev
const { token, sponsorships, operatorFactory, voteKick } = dev.deployment.incentives
const rpc = (method: string, params: unknown[] = []): Promise<unknown> => dev.chain.provider.request({ method, params })
console.log(`dev chain with ${ACCOUNTS} funded accounts ready in ${(performance.now() - started).toFixed(0)} ms`)

interface Call {
  readonly address: Address
  readonly abi: Abi
  readonly functionName: string
  readonly args?: readonly unknown[]
}

async function send(account: number, call: Call): Promise<TransactionReceipt> {
  const hash = await dev.walletFor(account).writeContract(call)
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success') throw new Error(`${call.functionName} reverted`)
  return receipt
}

function read<T>(address: Address, abi: Abi, functionName: string, args: readonly unknown[] = []): Promise<T> {
  return publicClient.readContract({ address, abi, functionName, args }) as Promise<T>
}

async function passTime(seconds: number): Promise<void> {
  await rpc('evm_increaseTime', [seconds])
  await rpc('evm_mine')
}

const operatorCall = (operator: Address, functionName: string, args: readonly unknown[]): Call => ({
  address: operator,
  abi: operatorAbi,
  functionName,
  args,
})
const tokenCall = (functionName: string, args: readonly unknown[]): Call => ({
  address: token,
  abi: runnelTokenAbi,
  functionName,
  args,
})
const sponsorshipData = (action: number, id: bigint): Hex =>
  encodeAbiParameters([{ type: 'uint8' }, { type: 'uint256' }], [action, id])

// ---- the shared starting point ----

const setupStarted = performance.now()
const { id: streamId } = await dev.registryFor(0).createStream('/bench/incentives')
const createSponsorship = async (minOperators: number, maxOperators: number): Promise<bigint> => {
  await send(0, {
    address: sponsorships,
    abi: sponsorshipsAbi,
    functionName: 'createSponsorship',
    args: [streamId, rnl('1'), minOperators, maxOperators, MIN_STAY_SECONDS, rnl('10')],
  })
  return read<bigint>(sponsorships, sponsorshipsAbi, 'sponsorshipCount')
}
const measured = await createSponsorship(2, 1000)
const elsewhere = await createSponsorship(2, OUTSIDERS)
await send(0, tokenCall('transferAndCall', [sponsorships, rnl('100000'), sponsorshipData(1, measured)]))
const spread: bigint[] = []
for (let i = 0; i < Math.max(...SPREADS); i++) {
  // One operator alone on each: minOperators 1, so that each pays and has earnings to count.
  spread.push(await createSponsorship(1, 1000))
  await send(0, tokenCall('transferAndCall', [sponsorships, rnl('1000'), sponsorshipData(1, spread[i]!)]))
}

const ownerOf = new Map<Address, number>()
const operatorOf: Address[] = []
for (let account = 1; account < DELEGATOR_1; account++) {
  await send(account, {
    address: operatorFactory,
    abi: operatorFactoryAbi,
    functionName: 'createOperator',
    args: [1000, '{}'],
  })
  const operator = await read<Address>(operatorFactory, operatorFactoryAbi, 'operatorOf', [
    dev.walletFor(account).account.address,
  ])
  operatorOf[account] = operator
  ownerOf.set(operator, account)
  // The owner delegates to its own operator first: the operator stakes from these tokens, and with the default
  // minSelfDelegationBps nobody else may delegate until the owner holds 5% of the shares.
  await send(account, tokenCall('transferAndCall', [operator, SELF_DELEGATION]))
}
for (let account = FIRST_OUTSIDER; account < FIRST_OUTSIDER + OUTSIDERS; account++) {
  await send(account, operatorCall(operatorOf[account]!, 'stake', [elsewhere, STAKE]))
}
await send(SPREAD, {
  address: operatorFactory,
  abi: operatorFactoryAbi,
  functionName: 'createOperator',
  args: [1000, '{}'],
})
const spreadOperator = await read<Address>(operatorFactory, operatorFactoryAbi, 'operatorOf', [
  dev.walletFor(SPREAD).account.address,
])
await send(SPREAD, tokenCall('transferAndCall', [spreadOperator, rnl('40000')]))
let snapshot = (await rpc('evm_snapshot')) as Hex
console.log(
  `${DELEGATOR_1 - 1} operators created and self-delegated, ${OUTSIDERS} staked elsewhere, in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`,
)

// ---- one run per size ----

const ACTIONS = [
  'stake (first, joins)',
  'stake (add to a stake)',
  'sponsor',
  'sponsor (transferAndCall)',
  'withdrawEarnings (Operator)',
  'withdrawEarnings (Sponsorships, direct)',
  'delegate (transferAndCall)',
  'delegate (deposit)',
  'undelegate (paid at once)',
  'undelegate (queued)',
  'unstake (after min stay)',
  'flag',
  'pick reviewers (cheapest seed)',
  'pick reviewers (dearest seed)',
  'vote (not resolving)',
  'vote (resolving: kick)',
  'conclude (kick)',
] as const
type Action = (typeof ACTIONS)[number]
const gas = new Map<Action, bigint[]>(ACTIONS.map((action) => [action, []]))
/** Extra flags per size, each at another block (another seed for the reviewer pick). */
const FLAG_SEEDS = 20
const flagSamples: { size: number; gas: bigint; lookedAt: number; passedOver: number }[] = []
const min = (values: bigint[]): bigint => values.reduce((a, b) => (a < b ? a : b))
const max = (values: bigint[]): bigint => values.reduce((a, b) => (a > b ? a : b))
const notes: string[] = []

async function measure(action: Action, account: number, call: Call): Promise<TransactionReceipt> {
  const receipt = await send(account, call)
  gas.get(action)!.push(receipt.gasUsed)
  return receipt
}

async function runSize(size: number): Promise<void> {
  await rpc('evm_revert', [snapshot])
  snapshot = (await rpc('evm_snapshot')) as Hex
  const sizeStarted = performance.now()
  for (let account = 1; account <= size; account++) {
    await send(account, operatorCall(operatorOf[account]!, 'stake', [measured, STAKE]))
  }
  await passTime(100)
  // Bring the index up to date once the sponsorship pays: the very first index write of a sponsorship turns a zero
  // slot nonzero (17,100 gas more, once in its life), which is not what the sizes are compared on.
  await send(0, tokenCall('transferAndCall', [sponsorships, rnl('100'), sponsorshipData(1, measured)]))
  await passTime(10)

  // Stake: X joins as operator size + 1, then adds to its stake.
  const joiner = operatorOf[JOINER]!
  await measure('stake (first, joins)', JOINER, operatorCall(joiner, 'stake', [measured, STAKE]))
  await measure('stake (add to a stake)', JOINER, operatorCall(joiner, 'stake', [measured, rnl('500')]))

  await send(0, tokenCall('approve', [sponsorships, rnl('100')]))
  await measure('sponsor', 0, {
    address: sponsorships,
    abi: sponsorshipsAbi,
    functionName: 'sponsor',
    args: [measured, rnl('100')],
  })
  await measure(
    'sponsor (transferAndCall)',
    0,
    tokenCall('transferAndCall', [sponsorships, rnl('100'), sponsorshipData(1, measured)]),
  )

  // Earnings: O_1 collects through its operator contract (the owner's cut is paid, the queue checked); O_2's
  // operator contract calls Sponsorships itself (impersonated), which is the part of the cost that is the index's.
  await passTime(60)
  const [first, second] = [operatorOf[1]!, operatorOf[2]!]
  await measure('withdrawEarnings (Operator)', 1, operatorCall(first, 'withdrawEarnings', [[measured]]))
  await rpc('hardhat_impersonateAccount', [second])
  await rpc('hardhat_setBalance', [second, '0xde0b6b3a7640000'])
  const asOperator = createWalletClient({
    chain: dev.viemChain,
    transport: custom(dev.chain.provider),
    account: second,
  })
  const direct = await asOperator.writeContract({
    address: sponsorships,
    abi: sponsorshipsAbi,
    functionName: 'withdrawEarnings',
    args: [measured],
  })
  gas
    .get('withdrawEarnings (Sponsorships, direct)')!
    .push((await publicClient.waitForTransactionReceipt({ hash: direct })).gasUsed)
  await rpc('hardhat_stopImpersonatingAccount', [second])

  // Delegation into O_1: a first delegation by each delegator, one by transferAndCall, one by approve + deposit.
  await measure('delegate (transferAndCall)', DELEGATOR_1, tokenCall('transferAndCall', [first, rnl('1000')]))
  await send(DELEGATOR_2, tokenCall('approve', [first, rnl('1000')]))
  const delegator2 = dev.walletFor(DELEGATOR_2).account.address
  await measure('delegate (deposit)', DELEGATOR_2, operatorCall(first, 'deposit', [rnl('1000'), delegator2]))
  const shares1 = await read<bigint>(first, operatorAbi, 'balanceOf', [dev.walletFor(DELEGATOR_1).account.address])
  await measure('undelegate (paid at once)', DELEGATOR_1, operatorCall(first, 'undelegate', [shares1]))
  if ((await read<bigint>(first, operatorAbi, 'queueLength')) !== 0n)
    throw new Error('undelegation was not paid at once')
  // O_1 stakes every free token, so the next undelegation has to wait in the queue.
  await send(
    1,
    operatorCall(first, 'stake', [measured, await read<bigint>(token, runnelTokenAbi, 'balanceOf', [first])]),
  )
  const shares2 = await read<bigint>(first, operatorAbi, 'balanceOf', [delegator2])
  await measure('undelegate (queued)', DELEGATOR_2, operatorCall(first, 'undelegate', [shares2]))
  if ((await read<bigint>(first, operatorAbi, 'queueLength')) !== 1n) throw new Error('undelegation was not queued')

  await passTime(Number(MIN_STAY_SECONDS))
  await measure('unstake (after min stay)', JOINER, operatorCall(joiner, 'unstake', [measured]))

  // O_2 flags O_1 (O_1 is mid-list among the staked operators at every size, so removing it always moves another).
  const flagged = await rpc('evm_snapshot')
  const flagGas: bigint[] = []
  const flagOnlyGas: bigint[] = []
  const staked = await Promise.all(
    Array.from({ length: Number(await read<bigint>(sponsorships, sponsorshipsAbi, 'stakedOperatorCount')) }, (_, i) =>
      read<Address>(sponsorships, sponsorshipsAbi, 'stakedOperatorAt', [BigInt(i)]),
    ),
  )
  const insiders = new Set(operatorOf.slice(1, size + 1))
  const flag = async (): Promise<{ flagId: bigint; reviewers: Address[] }> => {
    const flagged = await send(2, operatorCall(second, 'flag', [measured, first, '{"reason":"bench"}']))
    flagOnlyGas.push(flagged.gasUsed)
    const flagId = await read<bigint>(voteKick, voteKickAbi, 'flagCount')
    const receipt = await send(2, {
      address: voteKick,
      abi: voteKickAbi,
      functionName: 'pickReviewers',
      args: [flagId],
    })
    flagGas.push(receipt.gasUsed)
    const reviewers = await read<Address[]>(voteKick, voteKickAbi, 'reviewersOf', [flagId])
    const block = await publicClient.getBlock({ blockNumber: flagged.blockNumber })
    const replay = replayPick({
      flagBlockHash: block.hash,
      flagId,
      staked,
      flagger: second,
      target: first,
      insiders,
      reviewerCount: 5,
    })
    if (replay.picked.join() !== reviewers.join()) throw new Error('the replayed reviewer pick differs from VoteKick’s')
    flagSamples.push({
      size,
      gas: receipt.gasUsed,
      lookedAt: replay.lookedAt,
      passedOver: replay.insidersPassedOver,
    })
    return { flagId, reviewers }
  }
  const voteAs = (reviewer: Address, flagId: bigint): Call => operatorCall(reviewer, 'vote', [flagId, true])
  const status = async (flagId: bigint): Promise<number> =>
    (await read<{ status: number }>(voteKick, voteKickAbi, 'getFlag', [flagId])).status

  const { flagId, reviewers } = await flag()
  if (reviewers.length !== 5) throw new Error(`${reviewers.length} reviewers picked, expected 5`)
  const outsiders = reviewers.filter((r) => ownerOf.get(r)! >= FIRST_OUTSIDER).length
  await measure('vote (not resolving)', ownerOf.get(reviewers[0]!)!, voteAs(reviewers[0]!, flagId))
  await send(ownerOf.get(reviewers[1]!)!, voteAs(reviewers[1]!, flagId))
  await measure('vote (resolving: kick)', ownerOf.get(reviewers[2]!)!, voteAs(reviewers[2]!, flagId))
  if ((await status(flagId)) !== 2) throw new Error('the third kick vote did not kick')

  // The reviewer pick's cost depends on how many candidates its draws look at (bounded by 2 × 4 × reviewerCount),
  // which depends on the seed: the same flag from the same state at later blocks samples other seeds.
  let state = flagged
  for (let blocks = 1; blocks <= FLAG_SEEDS; blocks++) {
    await rpc('evm_revert', [state])
    state = await rpc('evm_snapshot')
    await rpc('hardhat_mine', [`0x${blocks.toString(16)}`])
    const { reviewers: picked } = await flag()
    if (picked.length !== 5) throw new Error(`${picked.length} reviewers picked, expected 5`)
  }

  // The same flag again from the same state, one kick vote, then concluded after the voting period.
  await rpc('evm_revert', [state])
  const again = await flag()
  await send(ownerOf.get(again.reviewers[0]!)!, voteAs(again.reviewers[0]!, again.flagId))
  await passTime(VOTING_PERIOD_SECONDS + 1)
  await measure('conclude (kick)', 0, {
    address: voteKick,
    abi: voteKickAbi,
    functionName: 'conclude',
    args: [again.flagId],
  })
  if ((await status(again.flagId)) !== 2) throw new Error('conclude did not kick')
  gas.get('flag')!.push(max(flagOnlyGas))
  gas.get('pick reviewers (cheapest seed)')!.push(min(flagGas))
  gas.get('pick reviewers (dearest seed)')!.push(max(flagGas))
  notes.push(
    `N=${size}: ${((performance.now() - sizeStarted) / 1000).toFixed(1)} s; reviewers picked: ${outsiders} of 5 outsiders (first flag)`,
  )
}

for (const size of SIZES) await runSize(size)

// ---- one operator on more sponsorships ----

// The share value counts the operator's earnings not yet collected, read from each sponsorship it is staked on, so
// what prices shares (delegating, undelegating) grows with that number, bounded by 32.
const SPREAD_ACTIONS = [
  'delegate (transferAndCall)',
  'delegate (deposit)',
  'undelegate (paid at once)',
  'undelegate (queued)',
  'payOutQueue (20 entries)',
  'withdrawEarnings (Operator, every one)',
] as const
type SpreadAction = (typeof SPREAD_ACTIONS)[number]
const spreadGas = new Map<SpreadAction, bigint[]>(SPREAD_ACTIONS.map((action) => [action, []]))

async function runSpread(count: number): Promise<void> {
  await rpc('evm_revert', [snapshot])
  snapshot = (await rpc('evm_snapshot')) as Hex
  const ids = spread.slice(0, count)
  for (const id of ids) await send(SPREAD, operatorCall(spreadOperator, 'stake', [id, STAKE]))
  await passTime(100)
  const measureSpread = async (action: SpreadAction, account: number, call: Call): Promise<void> => {
    spreadGas.get(action)!.push((await send(account, call)).gasUsed)
  }
  const [delegator1, delegator2] = [DELEGATOR_1, DELEGATOR_2].map((i) => dev.walletFor(i).account.address)
  await measureSpread(
    'delegate (transferAndCall)',
    DELEGATOR_1,
    tokenCall('transferAndCall', [spreadOperator, rnl('1000')]),
  )
  await send(DELEGATOR_2, tokenCall('approve', [spreadOperator, rnl('1000')]))
  await measureSpread(
    'delegate (deposit)',
    DELEGATOR_2,
    operatorCall(spreadOperator, 'deposit', [rnl('1000'), delegator2]),
  )
  const shares1 = await read<bigint>(spreadOperator, operatorAbi, 'balanceOf', [delegator1])
  await measureSpread('undelegate (paid at once)', DELEGATOR_1, operatorCall(spreadOperator, 'undelegate', [shares1]))
  const free = await read<bigint>(token, runnelTokenAbi, 'balanceOf', [spreadOperator])
  await send(SPREAD, operatorCall(spreadOperator, 'stake', [ids[0]!, free]))
  const shares2 = await read<bigint>(spreadOperator, operatorAbi, 'balanceOf', [delegator2])
  // The second delegator leaves in 20 parts, so one payout pays a full MAX_PAYOUTS_PER_CALL of entries, each
  // priced at the share value of the moment.
  const part = shares2 / 20n
  await measureSpread('undelegate (queued)', DELEGATOR_2, operatorCall(spreadOperator, 'undelegate', [part]))
  for (let i = 1; i < 20; i++) {
    await send(DELEGATOR_2, operatorCall(spreadOperator, 'undelegate', [i === 19 ? shares2 - 19n * part : part]))
  }
  if ((await read<bigint>(spreadOperator, operatorAbi, 'queueLength')) !== 20n) throw new Error('not queued')
  // Free tokens to pay them with: a plain transfer, which calls nothing.
  await send(0, tokenCall('transfer', [spreadOperator, rnl('2000')]))
  await measureSpread('payOutQueue (20 entries)', 0, operatorCall(spreadOperator, 'payOutQueue', []))
  if ((await read<bigint>(spreadOperator, operatorAbi, 'queueLength')) !== 0n) throw new Error('queue not paid')
  await passTime(10)
  const pending = await read<bigint>(sponsorships, sponsorshipsAbi, 'pendingEarningsOf', [spreadOperator])
  if (pending === 0n) throw new Error('the sponsorships paid nothing')
  await measureSpread(
    'withdrawEarnings (Operator, every one)',
    SPREAD,
    operatorCall(spreadOperator, 'withdrawEarnings', [ids]),
  )
}

for (const count of SPREADS) await runSpread(count)

// ---- the tables ----

const fmt = (value: bigint): string => value.toLocaleString('en-US')

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)))
  const line = (row: string[]): string =>
    `| ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`
  console.log(`\n${title}\n`)
  console.log(line(header))
  console.log(
    `| ${widths.map((width, column) => (column === 0 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`,
  )
  for (const row of rows) console.log(line(row))
}

printTable(
  'gas used per transaction, N operators staked on the sponsorship',
  ['action', ...SIZES.map((size) => `N=${size}`), 'max − min'],
  ACTIONS.map((action) => {
    const values = gas.get(action)!
    return [action, ...values.map(fmt), fmt(max(values) - min(values))]
  }),
)
console.log(
  `\npick reviewers: ${FLAG_SEEDS + 2} seeds (flag blocks) per size, the cheapest and dearest shown; per size, the`,
)
console.log(`reviewer pick's candidates looked at (list reads) and insiders passed over in the first pass:`)
for (const size of SIZES) {
  const samples = flagSamples.filter((sample) => sample.size === size)
  const range = (values: number[]): string => `${Math.min(...values)}–${Math.max(...values)}`
  console.log(
    `  N=${size}: looked at ${range(samples.map((s) => s.lookedAt))}, insiders passed over ${range(samples.map((s) => s.passedOver))}`,
  )
}
printTable(
  'gas used per transaction, one operator staked on k sponsorships',
  ['action', ...SPREADS.map((count) => `k=${count}`), 'per extra sponsorship'],
  SPREAD_ACTIONS.map((action) => {
    const values = spreadGas.get(action)!
    const perExtra = Number(values.at(-1)! - values[0]!) / (SPREADS.at(-1)! - SPREADS[0]!)
    return [action, ...values.map(fmt), Math.round(perExtra).toLocaleString('en-US')]
  }),
)
for (const note of notes) console.log(note)
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`)
await dev.stop()
