import { encodeAbiParameters, getAddress, parseEventLogs, zeroAddress, type Abi, type Address, type Hex } from 'viem'
import { ChainError } from '../errors.js'
import {
  operatorAbi,
  operatorFactoryAbi,
  runnelTokenAbi,
  sponsorshipsAbi,
  voteKickAbi,
} from '../generated/contracts.js'
import { readContract, requireWallet, type ReadResult } from '../contractCalls.js'
import { writeContract, type RegistryWallet, type WriteOptions } from '../registry/write.js'
import { errorsOf, toChainError } from '../revert.js'
import type {
  Delegation,
  FlagInfo,
  FlagStatus,
  OperatorInfo,
  ReviewRequest,
  RunnelIncentivesComponents,
  SponsorshipInfo,
  SponsorshipTerms,
  StakeInfo,
} from './types.js'

const ACTION_SPONSOR = 1
const ACTION_CREATE = 3
const FLAG_STATUSES: readonly (FlagStatus | undefined)[] = [undefined, 'open', 'kicked', 'false-flag', 'inconclusive']

// A revert deep in a call chain (operator -> token -> sponsorships) surfaces in the outer call: decode it with every
// incentive contract's errors, whichever contract the write went to.
const ALL_ERRORS: Abi = errorsOf([runnelTokenAbi, sponsorshipsAbi, operatorAbi, operatorFactoryAbi, voteKickAbi])

/**
 * Typed access to the token and the incentive contracts: sponsorships,
 * operators with delegation, flagging and vote-kick. Amounts are bigint wei
 * (18 decimals: `parseUnits('100', 18)` is 100 RNL). Reverts become
 * {@link ChainError}s that say what was refused (`STAKE_BELOW_MINIMUM`,
 * `NOT_REVIEWER`, …).
 *
 * @example
 * ```ts
 * const incentives = new RunnelIncentives({ publicClient, walletClient, addresses: deployment.incentives })
 * const sponsorship = await incentives.createSponsorship({ streamId, ratePerSecond: parseUnits('1', 18) }, parseUnits('10000', 18))
 * const operator = await incentives.createOperator({ cutBps: 1000 })
 * await incentives.delegate(operator, parseUnits('5000', 18))
 * await incentives.stake(sponsorship.id, parseUnits('5000', 18))
 * ```
 */
export class RunnelIncentives {
  constructor(private readonly components: RunnelIncentivesComponents) {}

  /** The address writes are sent from. */
  get account(): Address {
    return this.wallet().account.address
  }

  // ---- token ----

  async tokenBalance(account: Address = this.account): Promise<bigint> {
    return this.read(runnelTokenAbi, this.addresses.token, 'balanceOf', [account])
  }

  async transferTokens(to: Address, amount: bigint): Promise<void> {
    await this.write(runnelTokenAbi, this.addresses.token, 'transfer', [to, amount])
  }

  // ---- sponsorships ----

  /**
   * Creates a sponsorship of an existing stream, funded with `funding` in the same transaction.
   *
   * @throws {@link ChainError} `STREAM_NOT_FOUND`, `INVALID_ARGUMENT` (terms), `INSUFFICIENT_FUNDS`
   */
  async createSponsorship(terms: SponsorshipTerms, funding = 0n): Promise<SponsorshipInfo> {
    const args = [
      terms.streamId,
      terms.ratePerSecond,
      terms.minOperators ?? 1,
      terms.maxOperators ?? 100,
      BigInt(terms.minStaySeconds ?? 0),
      terms.earlyLeavePenalty ?? 0n,
    ] as const
    const receipt =
      funding > 0n
        ? await this.transferAndCall(
            this.addresses.sponsorships,
            funding,
            encodeAbiParameters(
              [
                { type: 'uint8' },
                { type: 'string' },
                { type: 'uint256' },
                { type: 'uint32' },
                { type: 'uint32' },
                { type: 'uint64' },
                { type: 'uint256' },
              ],
              [ACTION_CREATE, ...args],
            ),
          )
        : await this.write(sponsorshipsAbi, this.addresses.sponsorships, 'createSponsorship', args)
    const [created] = parseEventLogs({ abi: sponsorshipsAbi, eventName: 'SponsorshipCreated', logs: receipt.logs })
    if (created === undefined) throw new ChainError('RPC_ERROR', 'the sponsorship was created but its event is missing')
    return this.getSponsorship(Number(created.args.sponsorshipId))
  }

  /** Adds funds in one transaction (ERC-1363 `transferAndCall`). */
  async sponsor(sponsorshipId: number, amount: bigint): Promise<void> {
    await this.transferAndCall(
      this.addresses.sponsorships,
      amount,
      encodeAbiParameters([{ type: 'uint8' }, { type: 'uint256' }], [ACTION_SPONSOR, BigInt(sponsorshipId)]),
    )
  }

  /** @throws {@link ChainError} `SPONSORSHIP_NOT_FOUND` */
  async getSponsorship(sponsorshipId: number): Promise<SponsorshipInfo> {
    const v = await this.read(sponsorshipsAbi, this.addresses.sponsorships, 'getSponsorship', [BigInt(sponsorshipId)])
    return {
      id: Number(v.id),
      streamId: v.streamId,
      creator: v.creator,
      ratePerSecond: v.ratePerSecond,
      minOperators: v.minOperators,
      maxOperators: v.maxOperators,
      minStaySeconds: Number(v.minStaySeconds),
      earlyLeavePenalty: v.earlyLeavePenalty,
      unallocated: v.unallocated,
      totalStake: v.totalStake,
      operatorCount: v.operatorCount,
      paying: v.paying,
    }
  }

  /** Every sponsorship, or those of one stream; newest last. */
  async listSponsorships(filter: { readonly streamId?: string } = {}): Promise<SponsorshipInfo[]> {
    const count = Number(await this.read(sponsorshipsAbi, this.addresses.sponsorships, 'sponsorshipCount', []))
    const all = await Promise.all(Array.from({ length: count }, (_, i) => this.getSponsorship(i + 1)))
    return filter.streamId === undefined ? all : all.filter((s) => s.streamId === filter.streamId)
  }

  /** An operator's stake on a sponsorship, with earnings as of the latest block. */
  async getStake(sponsorshipId: number, operator: Address): Promise<StakeInfo> {
    const v = await this.read(sponsorshipsAbi, this.addresses.sponsorships, 'getStake', [
      BigInt(sponsorshipId),
      operator,
    ])
    return {
      sponsorshipId,
      operator: getAddress(operator),
      amount: v.amount,
      locked: v.locked,
      earnings: v.earnings,
      joinedAt: Number(v.joinedAt),
      underReview: v.underReview,
      kicked: v.kicked,
    }
  }

  /** The sponsorships an operator is staked on. */
  async sponsorshipsOf(operator: Address): Promise<number[]> {
    const ids = await this.read(sponsorshipsAbi, this.addresses.sponsorships, 'sponsorshipsOf', [operator])
    return ids.map(Number)
  }

  /**
   * The stakes on a sponsorship, each with its earnings as of the latest block: one read per operator staked anywhere,
   * and one more per operator staked here.
   */
  async stakesOn(sponsorshipId: number): Promise<StakeInfo[]> {
    const { sponsorships } = this.addresses
    const count = Number(await this.read(sponsorshipsAbi, sponsorships, 'stakedOperatorCount', []))
    const staked = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        this.read(sponsorshipsAbi, sponsorships, 'stakedOperatorAt', [BigInt(i)]),
      ),
    )
    const here = await Promise.all(
      staked.map(async (operator) =>
        (await this.sponsorshipsOf(operator)).includes(sponsorshipId) ? operator : undefined,
      ),
    )
    return Promise.all(
      here.filter((operator) => operator !== undefined).map((operator) => this.getStake(sponsorshipId, operator)),
    )
  }

  // ---- operators ----

  /**
   * Creates the account's operator contract (one per account).
   *
   * @param options.cutBps the owner's cut of collected earnings, in basis points (1000 = 10%)
   * @throws {@link ChainError} `OPERATOR_EXISTS`, `INVALID_ARGUMENT`
   */
  async createOperator(options: { readonly cutBps?: number; readonly metadata?: string } = {}): Promise<Address> {
    const receipt = await this.write(operatorFactoryAbi, this.addresses.operatorFactory, 'createOperator', [
      options.cutBps ?? 1000,
      options.metadata ?? '',
    ])
    const [created] = parseEventLogs({ abi: operatorFactoryAbi, eventName: 'OperatorCreated', logs: receipt.logs })
    if (created === undefined) throw new ChainError('RPC_ERROR', 'the operator was created but its event is missing')
    return getAddress(created.args.operator)
  }

  /** The operator contract an account owns, if any. */
  async operatorOf(owner: Address = this.account): Promise<Address | undefined> {
    const operator = await this.read(operatorFactoryAbi, this.addresses.operatorFactory, 'operatorOf', [owner])
    return operator === zeroAddress ? undefined : getAddress(operator)
  }

  async isOperator(address: Address): Promise<boolean> {
    return this.read(operatorFactoryAbi, this.addresses.operatorFactory, 'isOperator', [address])
  }

  /** Every operator contract, oldest first. */
  async listOperators(): Promise<Address[]> {
    const count = Number(await this.read(operatorFactoryAbi, this.addresses.operatorFactory, 'operatorCount', []))
    return Promise.all(
      Array.from({ length: count }, async (_, i) =>
        getAddress(await this.read(operatorFactoryAbi, this.addresses.operatorFactory, 'operatorAt', [BigInt(i)])),
      ),
    )
  }

  /** @throws {@link ChainError} `OPERATOR_NOT_FOUND` */
  async getOperator(operator: Address): Promise<OperatorInfo> {
    if (!(await this.isOperator(operator))) throw new ChainError('OPERATOR_NOT_FOUND', `${operator} is not an operator`)
    const read = <T>(functionName: string, args: readonly unknown[] = []): Promise<T> =>
      this.read(operatorAbi, operator, functionName as never, args)
    const [owner, cutBps, metadata, nodes, totalAssets, totalShares, queuedShares, queueLength, ids] =
      await Promise.all([
        read<Address>('owner'),
        read<number>('cutBps'),
        read<string>('metadata'),
        read<readonly Address[]>('nodes'),
        read<bigint>('totalAssets'),
        read<bigint>('totalSupply'),
        read<bigint>('queuedShares'),
        read<bigint>('queueLength'),
        this.sponsorshipsOf(operator),
      ])
    return {
      address: getAddress(operator),
      owner,
      cutBps,
      metadata,
      nodes,
      totalAssets,
      totalShares,
      queuedShares,
      queueLength: Number(queueLength),
      stakes: await Promise.all(ids.map((id) => this.getStake(id, operator))),
    }
  }

  /** Delegates tokens to an operator in one transaction; the shares go to the sending account. */
  async delegate(operator: Address, amount: bigint): Promise<void> {
    await this.transferAndCall(operator, amount, '0x')
  }

  /**
   * Undelegates `amount` tokens' worth of shares (or all of them): paid at once from the operator's free tokens,
   * or queued and paid as tokens come free, at the share value of payout time.
   */
  async undelegate(operator: Address, amount: bigint | 'all'): Promise<void> {
    const held = await this.read(operatorAbi, operator, 'balanceOf', [this.account])
    let shares = held
    if (amount !== 'all') {
      const needed = await this.read(operatorAbi, operator, 'previewWithdraw', [amount])
      shares = needed < held ? needed : held
    }
    await this.write(operatorAbi, operator, 'undelegate', [shares])
  }

  /** A delegator's shares in an operator and what they are worth now. */
  async getDelegation(operator: Address, delegator: Address = this.account): Promise<Delegation> {
    const [shares, value] = await Promise.all([
      this.read(operatorAbi, operator, 'balanceOf', [delegator]),
      this.read(operatorAbi, operator, 'valueOf', [delegator]),
    ])
    return { operator: getAddress(operator), delegator: getAddress(delegator), shares, value }
  }

  /** Stakes the account's operator's tokens on a sponsorship (the account must own the operator). */
  async stake(sponsorshipId: number, amount: bigint, operator?: Address): Promise<void> {
    await this.write(operatorAbi, await this.ownOperator(operator), 'stake', [BigInt(sponsorshipId), amount])
  }

  async unstake(sponsorshipId: number, operator?: Address): Promise<void> {
    await this.write(operatorAbi, await this.ownOperator(operator), 'unstake', [BigInt(sponsorshipId)])
  }

  async setNodes(nodes: readonly Address[], operator?: Address): Promise<void> {
    await this.write(operatorAbi, await this.ownOperator(operator), 'setNodes', [nodes])
  }

  async setCut(cutBps: number, operator?: Address): Promise<void> {
    await this.write(operatorAbi, await this.ownOperator(operator), 'setCut', [cutBps])
  }

  /** A node of `operator` says it is alive and how to reach it. */
  async heartbeat(operator: Address, metadata: string): Promise<void> {
    await this.write(operatorAbi, operator, 'heartbeat', [metadata])
  }

  /** Seconds since the epoch of a node's last heartbeat, or 0. */
  async lastHeartbeat(operator: Address, node: Address): Promise<number> {
    return Number(await this.read(operatorAbi, operator, 'lastHeartbeat', [node]))
  }

  /**
   * Collects `operator`'s earnings from the given sponsorships (default: all it is staked on and not under review) into the operator
   * contract; the owner's cut goes to the owner. Sent by the owner or one of the operator's nodes.
   */
  async withdrawEarnings(operator: Address, sponsorshipIds?: readonly number[]): Promise<void> {
    const ids = sponsorshipIds ?? (await this.collectable(operator))
    await this.write(operatorAbi, operator, 'withdrawEarnings', [ids.map(BigInt)])
  }

  /** The sponsorships whose earnings `operator` can collect now: staked there, not under review. */
  private async collectable(operator: Address): Promise<number[]> {
    const stakes = await Promise.all((await this.sponsorshipsOf(operator)).map((id) => this.getStake(id, operator)))
    return stakes.filter((stake) => !stake.underReview).map((stake) => stake.sponsorshipId)
  }

  /**
   * Flags `target` as not serving the sponsorship's stream, for `operator` (sent by its owner or a node).
   * @returns the flag's id
   * @throws {@link ChainError} `NOT_STAKED`, `ALREADY_FLAGGED`, `STAKE_LOCKED`, `NO_REVIEWERS`
   */
  async flag(operator: Address, sponsorshipId: number, target: Address, metadata = ''): Promise<number> {
    const receipt = await this.write(operatorAbi, operator, 'flag', [BigInt(sponsorshipId), target, metadata])
    const [flagged] = parseEventLogs({ abi: voteKickAbi, eventName: 'Flagged', logs: receipt.logs })
    if (flagged === undefined) throw new ChainError('RPC_ERROR', 'the flag was sent but its event is missing')
    const flagId = Number(flagged.args.flagId)
    await this.pickReviewers(flagId)
    return flagId
  }

  /**
   * Picks a flag's reviewers and starts its vote (anyone may; {@link flag} does it). The pick is seeded by the hash of
   * the flag's block, so it is sent once a later block exists.
   */
  async pickReviewers(flagId: number): Promise<void> {
    await this.write(voteKickAbi, this.addresses.voteKick, 'pickReviewers', [BigInt(flagId)], {
      simulateOnPending: true,
    })
  }

  /** @throws {@link ChainError} `NOT_REVIEWER`, `ALREADY_VOTED`, `VOTING_ENDED`, `FLAG_CLOSED` */
  async vote(operator: Address, flagId: number, kick: boolean): Promise<void> {
    await this.write(operatorAbi, operator, 'vote', [BigInt(flagId), kick])
  }

  /** Ends a flag on the votes cast once its voting period is over (anyone may). */
  async conclude(flagId: number): Promise<void> {
    await this.write(voteKickAbi, this.addresses.voteKick, 'conclude', [BigInt(flagId)])
  }

  /** @throws {@link ChainError} `FLAG_NOT_FOUND` */
  async getFlag(flagId: number): Promise<FlagInfo> {
    const [f, reviewers] = await Promise.all([
      this.read(voteKickAbi, this.addresses.voteKick, 'getFlag', [BigInt(flagId)]),
      this.read(voteKickAbi, this.addresses.voteKick, 'reviewersOf', [BigInt(flagId)]),
    ])
    return {
      id: flagId,
      sponsorshipId: Number(f.sponsorshipId),
      flagger: f.flagger,
      target: f.target,
      flaggedAt: Number(f.flaggedAt),
      deadline: Number(f.deadline),
      reviewers,
      kickVotes: f.kickVotes,
      keepVotes: f.keepVotes,
      status: FLAG_STATUSES[f.status] ?? 'open',
    }
  }

  /** The open flag on `target` in a sponsorship, if any. */
  async openFlagOn(sponsorshipId: number, target: Address): Promise<number | undefined> {
    const id = await this.read(voteKickAbi, this.addresses.voteKick, 'openFlagOn', [BigInt(sponsorshipId), target])
    return id === 0n ? undefined : Number(id)
  }

  /** Flags `operator` was picked to review, from `fromBlock` on. */
  async reviewRequests(operator: Address, fromBlock = 0n): Promise<ReviewRequest[]> {
    try {
      const logs = await this.components.publicClient.getContractEvents({
        address: this.addresses.voteKick,
        abi: voteKickAbi,
        eventName: 'ReviewRequested',
        args: { reviewer: operator },
        fromBlock,
      })
      return logs.map((log) => ({
        flagId: Number(log.args.flagId),
        sponsorshipId: Number(log.args.sponsorshipId),
        target: getAddress(log.args.target!),
        blockNumber: log.blockNumber,
      }))
    } catch (err) {
      throw toChainError(err)
    }
  }

  // ---- internals ----

  private get addresses(): RunnelIncentivesComponents['addresses'] {
    return this.components.addresses
  }

  private async ownOperator(operator: Address | undefined): Promise<Address> {
    if (operator !== undefined) return operator
    const own = await this.operatorOf(this.account)
    if (own === undefined) {
      throw new ChainError('OPERATOR_NOT_FOUND', `${this.account} owns no operator; create one first`)
    }
    return own
  }

  private transferAndCall(to: Address, amount: bigint, data: Hex) {
    return this.write(runnelTokenAbi, this.addresses.token, 'transferAndCall', [to, amount, data])
  }

  private write(abi: Abi, address: Address, functionName: string, args: readonly unknown[], options?: WriteOptions) {
    return writeContract(
      this.components.publicClient,
      this.wallet(),
      address,
      [...abi, ...ALL_ERRORS],
      functionName,
      args,
      options,
    )
  }

  private read<const TAbi extends Abi, TName extends string>(
    abi: TAbi,
    address: Address,
    functionName: TName,
    args: readonly unknown[],
  ): Promise<ReadResult<TAbi, TName>> {
    return readContract(this.components.publicClient, ALL_ERRORS, abi, address, functionName, args)
  }

  private wallet(): RegistryWallet {
    return requireWallet(this.components.walletClient)
  }
}
