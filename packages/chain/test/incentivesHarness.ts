/**
 * Shared setup for the incentive contract tests: a dev chain, actors with their
 * wallets, viem calls that fail loudly, revert decoding across all incentive
 * ABIs, and time travel. Talks to the contracts with viem directly (not through
 * the SDK bindings), so the tests check the contracts and nothing else.
 */
import assert from 'node:assert/strict'
import {
  BaseError,
  createPublicClient,
  createWalletClient,
  custom,
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
  ContractFunctionRevertedError,
  decodeErrorResult,
  encodeAbiParameters,
  parseUnits,
  toFunctionSelector,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import {
  operatorAbi,
  operatorFactoryAbi,
  runnelTokenAbi,
  sponsorshipsAbi,
  streamRegistryAbi,
  voteKickAbi,
  type IncentiveAddresses,
} from '../src/index.js'

export const RNL = (amount: string | number): bigint => parseUnits(String(amount), 18)

/** Every custom error any incentive contract (or OpenZeppelin inside it) can revert with, once per selector. */
type AbiError = Extract<Abi[number], { type: 'error' }>

const ALL_ERRORS: readonly AbiError[] = (() => {
  const seen = new Map<Hex, AbiError>()
  for (const abi of [
    sponsorshipsAbi,
    operatorAbi,
    operatorFactoryAbi,
    voteKickAbi,
    runnelTokenAbi,
    streamRegistryAbi,
  ]) {
    for (const item of abi as Abi) {
      if (item.type !== 'error') continue
      const selector = toFunctionSelector(`${item.name}(${item.inputs.map((input) => input.type).join(',')})`)
      if (!seen.has(selector)) seen.set(selector, item)
    }
  }
  return [...seen.values()]
})()

const withErrors = new WeakMap<Abi, Abi>()

/**
 * The ABI plus every incentive error: a revert bubbling up from a nested call (VoteKick's errors through Operator.flag)
 * then decodes at once. Without it viem spends about a second on each undecodable revert.
 */
function withAllErrors(abi: Abi): Abi {
  let combined = withErrors.get(abi)
  if (combined === undefined) {
    combined = [
      ...abi,
      ...ALL_ERRORS.filter((error) => !abi.some((item) => item.type === 'error' && item.name === error.name)),
    ]
    withErrors.set(abi, combined)
  }
  return combined
}

export interface DecodedRevert {
  readonly errorName: string
  readonly args: readonly unknown[]
}

/** The custom error a failed call or transaction reverted with, decoded against every incentive ABI. */
export function decodeRevert(err: unknown): DecodedRevert | undefined {
  if (!(err instanceof BaseError)) return undefined
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined
  if (reverted.raw !== undefined && reverted.raw !== '0x') {
    try {
      const decoded = decodeErrorResult({ abi: ALL_ERRORS, data: reverted.raw })
      return { errorName: decoded.errorName, args: decoded.args ?? [] }
    } catch {
      // fall through to what viem decoded itself
    }
  }
  if (reverted.data !== undefined) return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] }
  return undefined
}

/** Asserts that `promise` reverts with the custom error `errorName` and, when given, exactly `args`. */
export async function expectRevert(
  promise: Promise<unknown>,
  errorName: string,
  args?: readonly unknown[],
): Promise<void> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  assert.ok(caught !== undefined, `expected a revert with ${errorName}, but the call succeeded`)
  const decoded = decodeRevert(caught)
  assert.ok(
    decoded !== undefined,
    `expected ${errorName}, got an undecodable failure: ${caught instanceof Error ? caught.message : 'a non-error'}`,
  )
  assert.equal(
    decoded.errorName,
    errorName,
    `expected ${errorName}(…), got ${decoded.errorName}(${String(decoded.args)})`,
  )
  if (args !== undefined) assert.deepEqual(decoded.args, args, `arguments of ${errorName}`)
}

export interface ContractCall {
  readonly address: Address
  readonly abi: Abi
  readonly functionName: string
  readonly args?: readonly unknown[]
}

export interface Actor {
  readonly index: number
  readonly address: Address
}

/** Statuses of a VoteKick flag (the contract's enum). */
export const FlagStatus = { None: 0, Open: 1, Kicked: 2, FalseFlag: 3, Inconclusive: 4 } as const

/** Sponsorship terms as `createSponsorship` takes them. */
export interface Terms {
  readonly ratePerSecond: bigint
  readonly minOperators?: number
  readonly maxOperators?: number
  readonly minStaySeconds?: number
  readonly earlyLeavePenalty?: bigint
}

export interface StakeView {
  readonly amount: bigint
  readonly locked: bigint
  readonly earnings: bigint
  readonly joinedAt: bigint
  readonly underReview: boolean
  readonly kicked: boolean
}

export interface SponsorshipView {
  readonly unallocated: bigint
  readonly totalStake: bigint
  readonly operatorCount: number
  readonly paying: boolean
}

// Fixed fees skip viem's fee estimation round trips; the dev chain's base fee stays far below.
const FEES = { maxFeePerGas: 50_000_000_000n, maxPriorityFeePerGas: 0n }
// Fixed gas skips estimation (a second execution of every transaction); a revert is then decoded by re-simulating.
const GAS = 8_000_000n

/**
 * One dev chain with the incentive contracts, and helpers to act on it as
 * dev account `i`. Every `send` waits for its receipt (blocks are mined on
 * demand) and throws the decoded custom error on a revert.
 */
export class IncentivesHarness {
  readonly addresses: IncentiveAddresses

  readonly publicClient: PublicClient
  private readonly wallets = new Map<number, WalletClient<Transport, Chain, Account>>()
  // viem maps the in-process chain's revert of a nested call to an unknown RPC error and retries it three times (about
  // a second per expected revert); a local chain has no transient failures to retry.
  private readonly transport: Transport

  private constructor(readonly dev: DevChain) {
    this.addresses = dev.deployment.incentives
    this.transport = custom(dev.chain.provider, { retryCount: 0 })
    this.publicClient = createPublicClient({ chain: dev.viemChain, transport: this.transport })
  }

  wallet(index: number): WalletClient<Transport, Chain, Account> {
    let wallet = this.wallets.get(index)
    if (wallet === undefined) {
      const key = this.dev.chain.accountKeys[index]
      if (key === undefined) throw new RangeError(`no dev account ${index}`)
      wallet = createWalletClient({
        chain: this.dev.viemChain,
        transport: this.transport,
        account: privateKeyToAccount(key),
      })
      this.wallets.set(index, wallet)
    }
    return wallet
  }

  static async start(accounts = 10): Promise<IncentivesHarness> {
    return new IncentivesHarness(await startDevChain({ accounts }))
  }

  stop(): Promise<void> {
    return this.dev.stop()
  }

  actor(index: number): Actor {
    return { index, address: this.wallet(index).account.address }
  }

  /** Sends `call` from dev account `from`; resolves to the receipt, or throws the decoded revert. */
  async send(from: number, call: ContractCall): Promise<TransactionReceipt> {
    const wallet = this.wallet(from)
    const request = {
      ...call,
      abi: withAllErrors(call.abi),
      args: call.args ?? [],
      account: wallet.account,
      chain: wallet.chain,
      gas: GAS,
      ...FEES,
    }
    const hash = await wallet.writeContract(request)
    const receipt = await this.publicClient.getTransactionReceipt({ hash })
    if (receipt.status === 'success') return receipt
    // The reverted transaction changed nothing: simulating it again at the same state shows why it failed.
    await this.simulate(from, call)
    throw new Error(`${call.functionName} reverted, but not when simulated again`)
  }

  /** Runs `call` as dev account `from` without sending it; throws the decoded revert. */
  async simulate(from: number, call: ContractCall): Promise<unknown> {
    const { result } = await this.publicClient.simulateContract({
      ...call,
      abi: withAllErrors(call.abi),
      args: call.args ?? [],
      account: this.wallet(from).account,
    })
    return result
  }

  read<T>(call: ContractCall): Promise<T> {
    return this.publicClient.readContract({ ...call, args: call.args ?? [] }) as Promise<T>
  }

  // ---- time ----

  async increaseTime(seconds: number): Promise<void> {
    await this.dev.chain.provider.request({ method: 'evm_increaseTime', params: [seconds] })
    await this.dev.chain.provider.request({ method: 'evm_mine', params: [] })
  }

  /** Fixes the timestamp of the next mined block (so a test knows exactly when its transaction runs). */
  async setNextTimestamp(timestamp: bigint): Promise<void> {
    await this.dev.chain.provider.request({ method: 'evm_setNextBlockTimestamp', params: [Number(timestamp)] })
  }

  async latestTimestamp(): Promise<bigint> {
    return (await this.publicClient.getBlock({ blockTag: 'latest' })).timestamp
  }

  async blockTimestamp(receipt: TransactionReceipt): Promise<bigint> {
    return (await this.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp
  }

  async snapshot(): Promise<Hex> {
    return (await this.dev.chain.provider.request({ method: 'evm_snapshot', params: [] })) as Hex
  }

  async revert(id: Hex): Promise<void> {
    const ok = await this.dev.chain.provider.request({ method: 'evm_revert', params: [id] })
    assert.equal(ok, true, 'evm_revert')
  }

  // ---- token ----

  balanceOf(account: Address): Promise<bigint> {
    return this.read({
      address: this.addresses.token,
      abi: runnelTokenAbi,
      functionName: 'balanceOf',
      args: [account],
    })
  }

  totalSupply(): Promise<bigint> {
    return this.read({ address: this.addresses.token, abi: runnelTokenAbi, functionName: 'totalSupply' })
  }

  transfer(from: number, to: Address, amount: bigint): Promise<TransactionReceipt> {
    return this.send(from, {
      address: this.addresses.token,
      abi: runnelTokenAbi,
      functionName: 'transfer',
      args: [to, amount],
    })
  }

  transferAndCall(from: number, to: Address, amount: bigint, data: Hex = '0x'): Promise<TransactionReceipt> {
    return this.send(from, {
      address: this.addresses.token,
      abi: runnelTokenAbi,
      functionName: 'transferAndCall',
      args: [to, amount, data],
    })
  }

  approve(from: number, spender: Address, amount: bigint): Promise<TransactionReceipt> {
    return this.send(from, {
      address: this.addresses.token,
      abi: runnelTokenAbi,
      functionName: 'approve',
      args: [spender, amount],
    })
  }

  // ---- streams and sponsorships ----

  /** Creates stream `/path` owned by dev account `from`; returns its id. */
  async createStream(from: number, path: string): Promise<string> {
    const registry = this.dev.deployment.streamRegistry
    const streamId = (await this.simulate(from, {
      address: registry,
      abi: streamRegistryAbi,
      functionName: 'createStream',
      args: [path, '{}'],
    })) as string
    await this.send(from, {
      address: registry,
      abi: streamRegistryAbi,
      functionName: 'createStream',
      args: [path, '{}'],
    })
    return streamId
  }

  /** Creates a sponsorship of `streamId`; returns its id. */
  async createSponsorship(from: number, streamId: string, terms: Terms): Promise<bigint> {
    const call = this.sponsorshipsCall('createSponsorship', [
      streamId,
      terms.ratePerSecond,
      terms.minOperators ?? 1,
      terms.maxOperators ?? 100,
      BigInt(terms.minStaySeconds ?? 0),
      terms.earlyLeavePenalty ?? 0n,
    ])
    const id = (await this.simulate(from, call)) as bigint
    await this.send(from, call)
    return id
  }

  /** Funds a sponsorship in one transaction (`transferAndCall` with action 1). */
  sponsor(from: number, sponsorshipId: bigint, amount: bigint): Promise<TransactionReceipt> {
    return this.transferAndCall(
      from,
      this.addresses.sponsorships,
      amount,
      encodeAbiParameters([{ type: 'uint8' }, { type: 'uint256' }], [1, sponsorshipId]),
    )
  }

  sponsorshipsCall(functionName: string, args: readonly unknown[] = []): ContractCall {
    return { address: this.addresses.sponsorships, abi: sponsorshipsAbi, functionName, args }
  }

  getStake(sponsorshipId: bigint, operator: Address): Promise<StakeView> {
    return this.read(this.sponsorshipsCall('getStake', [sponsorshipId, operator]))
  }

  getSponsorship(sponsorshipId: bigint): Promise<SponsorshipView> {
    return this.read(this.sponsorshipsCall('getSponsorship', [sponsorshipId]))
  }

  // ---- operators ----

  /** Creates dev account `owner`'s operator contract; returns its address. */
  async createOperator(owner: number, cutBps = 0): Promise<Address> {
    const call: ContractCall = {
      address: this.addresses.operatorFactory,
      abi: operatorFactoryAbi,
      functionName: 'createOperator',
      args: [cutBps, `{"name":"operator ${owner}"}`],
    }
    const operator = (await this.simulate(owner, call)) as Address
    await this.send(owner, call)
    return operator
  }

  operatorCall(operator: Address, functionName: string, args: readonly unknown[] = []): ContractCall {
    return { address: operator, abi: operatorAbi, functionName, args }
  }

  /** Delegates in one transaction (`transferAndCall` to the operator). */
  delegate(from: number, operator: Address, amount: bigint): Promise<TransactionReceipt> {
    return this.transferAndCall(from, operator, amount)
  }

  /** The operator's owner `owner` stakes `stake` of the operator's tokens on `sponsorshipId`. */
  stake(owner: number, operator: Address, sponsorshipId: bigint, stake: bigint): Promise<TransactionReceipt> {
    return this.send(owner, this.operatorCall(operator, 'stake', [sponsorshipId, stake]))
  }

  sharesOf(operator: Address, account: Address): Promise<bigint> {
    return this.read(this.operatorCall(operator, 'balanceOf', [account]))
  }

  valueOf(operator: Address, account: Address): Promise<bigint> {
    return this.read(this.operatorCall(operator, 'valueOf', [account]))
  }

  // ---- vote-kick ----

  voteKickCall(functionName: string, args: readonly unknown[] = []): ContractCall {
    return { address: this.addresses.voteKick, abi: voteKickAbi, functionName, args }
  }

  /** Flags `target` from the operator `flagger` (sent by its owner `owner`); returns the flag id. */
  async flag(owner: number, flagger: Address, sponsorshipId: bigint, target: Address): Promise<bigint> {
    const call = this.operatorCall(flagger, 'flag', [sponsorshipId, target, '{"reason":"test"}'])
    const flagId = (await this.simulate(owner, call)) as bigint
    await this.send(owner, call)
    await this.pickReviewers(owner, flagId)
    return flagId
  }

  /** Picks a flag's reviewers (a transaction after the flag's, as the contract requires). */
  pickReviewers(from: number, flagId: bigint): Promise<TransactionReceipt> {
    return this.send(from, this.voteKickCall('pickReviewers', [flagId]))
  }

  reviewersOf(flagId: bigint): Promise<readonly Address[]> {
    return this.read(this.voteKickCall('reviewersOf', [flagId]))
  }

  getFlag(flagId: bigint): Promise<{
    sponsorshipId: bigint
    flagger: Address
    target: Address
    deadline: bigint
    reviewerCount: number
    kickVotes: number
    keepVotes: number
    status: number
  }> {
    return this.read(this.voteKickCall('getFlag', [flagId]))
  }
}
