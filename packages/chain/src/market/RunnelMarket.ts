import { erc20Abi, getAddress, maxUint256, parseEventLogs, type Abi, type Address } from 'viem'
import { ChainError } from '../errors.js'
import {
  dataUnionAbi,
  dataUnionFactoryAbi,
  marketplaceAbi,
  runnelTokenAbi,
  streamRegistryAbi,
} from '../generated/contracts.js'
import { readContract, requireWallet, type ReadResult } from '../contractCalls.js'
import { writeContract, type RegistryWallet } from '../registry/write.js'
import { errorsOf, toChainError } from '../revert.js'
import type {
  DataUnionInfo,
  DataUnionInput,
  MemberInfo,
  MemberStatus,
  ProductInfo,
  ProductInput,
  Purchase,
  RevenueEvent,
  RunnelMarketComponents,
  SignedWithdrawal,
  SubscriptionInfo,
} from './types.js'

const GRANT = 4
const MEMBER_STATUSES: readonly MemberStatus[] = ['none', 'active', 'parted']
/** The EIP-712 domain of a Data Union's signed withdrawals (name and version are set in DataUnion.sol's constructor). */
export function dataUnionDomain(chainId: number, dataUnion: Address) {
  return { name: 'Runnel Data Union', version: '1', chainId, verifyingContract: dataUnion } as const
}

/** The EIP-712 type a member signs to let anyone send its withdrawal (`DataUnion.WITHDRAW_TYPEHASH`). */
export const DATA_UNION_WITHDRAW_TYPES = {
  Withdraw: [
    { name: 'member', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
} as const

// A purchase reverts inside the token or the registry as often as in the marketplace: decode with all their errors.
const ALL_ERRORS: Abi = errorsOf([marketplaceAbi, dataUnionAbi, dataUnionFactoryAbi, runnelTokenAbi, streamRegistryAbi])

/**
 * Typed access to the marketplace and to Data Unions: products that sell
 * time-limited subscribe permission on streams, and unions that share the
 * revenue among their members. Amounts are bigint in the token's smallest unit
 * (wei for RNL); times are Unix seconds. Reverts become {@link ChainError}s
 * naming what was refused (`TOKEN_NOT_ACCEPTED`, `INVALID_PERIOD`,
 * `INSUFFICIENT_EARNINGS`, `INVALID_SIGNATURE`, …).
 *
 * @example
 * ```ts
 * const market = new RunnelMarket({ publicClient, walletClient, addresses: deployment.market,
 *   registry: deployment.streamRegistry, token: deployment.incentives.token })
 * const union = await market.createDataUnion({ adminFeeBps: 1000 })
 * const product = await market.createProduct({ name: 'Weather', streams: [streamId], beneficiary: union,
 *   prices: [{ token: deployment.incentives.token, pricePerSecond: parseUnits('0.001', 18) }] })
 * await buyerMarket.buy(product.id, { seconds: 3600 })
 * ```
 */
export class RunnelMarket {
  constructor(private readonly components: RunnelMarketComponents) {}

  /** The address writes are sent from. */
  get account(): Address {
    return this.wallet().account.address
  }

  get addresses(): RunnelMarketComponents['addresses'] {
    return this.components.addresses
  }

  /** The chain connection reads go through (for reads the bindings don't wrap, such as blocks). */
  get publicClient(): RunnelMarketComponents['publicClient'] {
    return this.components.publicClient
  }

  /** The same bindings, sending transactions from another wallet. */
  withWallet(walletClient: NonNullable<RunnelMarketComponents['walletClient']>): RunnelMarket {
    return new RunnelMarket({ ...this.components, walletClient })
  }

  /** The network token, the default for prices and unions. */
  get token(): Address {
    return this.components.token
  }

  // ---- products ----

  /**
   * Creates a listed product. The seller must hold grant on every stream; the
   * marketplace is granted the grant permission on each stream that lacks it
   * (one transaction per stream), so it can give buyers access.
   *
   * @throws {@link ChainError} `PERMISSION_DENIED` (not a granter of a stream), `INVALID_ARGUMENT`, `TOKEN_NOT_ACCEPTED`
   */
  async createProduct(input: ProductInput): Promise<ProductInfo> {
    await this.grantMarketplace(input.streams)
    const receipt = await this.write(marketplaceAbi, this.addresses.marketplace, 'createProduct', [toInput(input)])
    const [created] = parseEventLogs({ abi: marketplaceAbi, eventName: 'ProductCreated', logs: receipt.logs })
    if (created === undefined) throw new ChainError('RPC_ERROR', 'the product was created but its event is missing')
    return this.getProduct(Number(created.args.productId))
  }

  /** Replaces the product's streams, beneficiary, prices, minimum period and terms. */
  async updateProduct(productId: number, input: ProductInput): Promise<ProductInfo> {
    await this.grantMarketplace(input.streams)
    await this.write(marketplaceAbi, this.addresses.marketplace, 'updateProduct', [BigInt(productId), toInput(input)])
    return this.getProduct(productId)
  }

  /** Stops sales; subscriptions bought run until they end. */
  async delistProduct(productId: number): Promise<void> {
    await this.write(marketplaceAbi, this.addresses.marketplace, 'delistProduct', [BigInt(productId)])
  }

  /** Hands the product to `newOwner`, who must hold grant on every stream of it. */
  async transferProductOwnership(productId: number, newOwner: Address): Promise<void> {
    await this.write(marketplaceAbi, this.addresses.marketplace, 'transferProductOwnership', [
      BigInt(productId),
      newOwner,
    ])
  }

  async relistProduct(productId: number): Promise<void> {
    await this.write(marketplaceAbi, this.addresses.marketplace, 'relistProduct', [BigInt(productId)])
  }

  /** @throws {@link ChainError} `PRODUCT_NOT_FOUND` */
  async getProduct(productId: number): Promise<ProductInfo> {
    if (!Number.isSafeInteger(productId) || productId < 1) {
      throw new ChainError('INVALID_ARGUMENT', `a product id is a positive integer, got ${String(productId)}`)
    }
    const [product, prices] = await this.read(marketplaceAbi, this.addresses.marketplace, 'getProduct', [
      BigInt(productId),
    ])
    return {
      id: productId,
      owner: product.owner,
      name: product.name,
      streams: product.streams,
      beneficiary: product.beneficiary,
      prices: prices.map((p) => ({ token: p.token, pricePerSecond: p.pricePerSecond })),
      minimumSeconds: Number(product.minimumSeconds),
      termsUri: product.termsUri,
      listed: product.listed,
      beneficiaryIsDataUnion: await this.isDataUnion(product.beneficiary),
    }
  }

  /** Every product, or those of one owner; listed ones only unless `includeDelisted`. Oldest first. */
  async listProducts(
    filter: { readonly owner?: Address; readonly includeDelisted?: boolean } = {},
  ): Promise<ProductInfo[]> {
    const count = Number(await this.read(marketplaceAbi, this.addresses.marketplace, 'productCount', []))
    const all = await Promise.all(Array.from({ length: count }, (_, i) => this.getProduct(i + 1)))
    return all.filter(
      (p) =>
        (filter.includeDelisted === true || p.listed) &&
        (filter.owner === undefined || p.owner === getAddress(filter.owner)),
    )
  }

  /**
   * Buys `seconds` of the product for this account, paying in `token` (default
   * the network token): approves the marketplace for the most the purchase may
   * cost (the limit per second times the period) if it may not spend that much
   * yet, then buys. `maxPricePerSecond` (default the price
   * read now) makes a price raised in front of the purchase revert instead.
   *
   * @throws {@link ChainError} `TOKEN_NOT_ACCEPTED`, `INVALID_PERIOD`, `PRODUCT_NOT_LISTED`, `PRICE_ABOVE_LIMIT`,
   *   `INSUFFICIENT_FUNDS`, `MARKETPLACE_NOT_GRANTED`
   */
  async buy(
    productId: number,
    options: { readonly seconds: number; readonly token?: Address; readonly maxPricePerSecond?: bigint },
  ): Promise<Purchase> {
    const token = options.token ?? this.token
    if (!Number.isSafeInteger(options.seconds) || options.seconds <= 0) {
      throw new ChainError('INVALID_PERIOD', `a period is a positive whole number of seconds, got ${options.seconds}`)
    }
    const [price, accepted] = await this.read(marketplaceAbi, this.addresses.marketplace, 'priceOf', [
      BigInt(productId),
      token,
    ])
    if (!accepted) throw new ChainError('TOKEN_NOT_ACCEPTED', `product ${productId} doesn't accept token ${token}`)
    const limit = options.maxPricePerSecond ?? price
    const cost = limit * BigInt(options.seconds)
    if (cost > maxUint256) {
      throw new ChainError(
        'INVALID_PERIOD',
        `${options.seconds} s at ${limit} per second overflows: buy a shorter period`,
      )
    }
    if (cost > 0n) {
      const allowance = await this.read(erc20Abi, token, 'allowance', [this.account, this.addresses.marketplace])
      if (allowance < cost) await this.write(erc20Abi, token, 'approve', [this.addresses.marketplace, cost])
    }
    const receipt = await this.write(marketplaceAbi, this.addresses.marketplace, 'buy', [
      BigInt(productId),
      BigInt(options.seconds),
      token,
      limit,
    ])
    const [bought] = parseEventLogs({ abi: marketplaceAbi, eventName: 'Subscribed', logs: receipt.logs })
    if (bought === undefined) throw new ChainError('RPC_ERROR', 'the purchase went through but its event is missing')
    return {
      productId,
      subscriber: bought.args.subscriber,
      token: bought.args.token,
      seconds: Number(bought.args.secondsBought),
      paid: bought.args.paid,
      endsAt: Number(bought.args.endsAt),
      transactionHash: receipt.transactionHash,
    }
  }

  /** A subscriber's subscription to one product (endsAt 0 if never bought). */
  async subscription(productId: number, subscriber: Address = this.account): Promise<SubscriptionInfo> {
    const [endsAt, now] = await Promise.all([
      this.read(marketplaceAbi, this.addresses.marketplace, 'subscriptionEnd', [BigInt(productId), subscriber]),
      this.chainTime(),
    ])
    return { productId, subscriber: getAddress(subscriber), endsAt: Number(endsAt), active: Number(endsAt) > now }
  }

  /** Every product the subscriber ever bought, with when each subscription ends; from the marketplace's events. */
  async subscriptionsOf(subscriber: Address = this.account): Promise<SubscriptionInfo[]> {
    try {
      const logs = await this.components.publicClient.getContractEvents({
        address: this.addresses.marketplace,
        abi: marketplaceAbi,
        eventName: 'Subscribed',
        args: { subscriber },
        fromBlock: 0n,
      })
      const ids = [...new Set(logs.map((log) => Number(log.args.productId)))]
      return await Promise.all(ids.map((id) => this.subscription(id, subscriber)))
    } catch (err) {
      throw toChainError(err)
    }
  }

  // ---- Data Unions ----

  /** Creates a Data Union administered by this account; returns its address. */
  async createDataUnion(input: DataUnionInput): Promise<Address> {
    const receipt = await this.write(dataUnionFactoryAbi, this.addresses.dataUnionFactory, 'createDataUnion', [
      input.token ?? this.token,
      input.adminFeeBps,
      input.joinAgents ?? [],
      input.metadata ?? '',
    ])
    const [created] = parseEventLogs({ abi: dataUnionFactoryAbi, eventName: 'DataUnionCreated', logs: receipt.logs })
    if (created === undefined) throw new ChainError('RPC_ERROR', 'the Data Union was created but its event is missing')
    return created.args.dataUnion
  }

  async isDataUnion(address: Address): Promise<boolean> {
    return this.read(dataUnionFactoryAbi, this.addresses.dataUnionFactory, 'isDataUnion', [address])
  }

  /** Every Data Union made by the factory, oldest first. */
  async listDataUnions(): Promise<Address[]> {
    const factory = this.addresses.dataUnionFactory
    const count = Number(await this.read(dataUnionFactoryAbi, factory, 'dataUnionCount', []))
    return Promise.all(
      Array.from({ length: count }, (_, i) => this.read(dataUnionFactoryAbi, factory, 'dataUnionAt', [BigInt(i)])),
    )
  }

  /** @throws {@link ChainError} `DATA_UNION_NOT_FOUND` */
  async getDataUnion(dataUnion: Address): Promise<DataUnionInfo> {
    await this.requireDataUnion(dataUnion)
    const [stats, admin, token, metadata] = await Promise.all([
      this.read(dataUnionAbi, dataUnion, 'stats', []),
      this.read(dataUnionAbi, dataUnion, 'admin', []),
      this.read(dataUnionAbi, dataUnion, 'token', []),
      this.read(dataUnionAbi, dataUnion, 'metadata', []),
    ])
    return {
      address: getAddress(dataUnion),
      admin,
      token,
      adminFeeBps: stats.adminFeeBps,
      metadata,
      totalRevenue: stats.totalRevenue,
      totalWithdrawn: stats.totalWithdrawn,
      totalWeight: stats.totalWeight,
      activeMemberCount: Number(stats.activeMemberCount),
      memberCount: Number(stats.memberCount),
      adminEarned: stats.adminEarned,
      adminWithdrawn: stats.adminWithdrawn,
    }
  }

  /** Adds members (weight 1 unless given), up to 100 per transaction; needs a join agent or the admin. */
  async addMembers(
    dataUnion: Address,
    members: readonly (Address | { readonly address: Address; readonly weight?: bigint })[],
  ): Promise<void> {
    await this.requireDataUnion(dataUnion)
    const list = members.map((m) => (typeof m === 'string' ? { address: m, weight: 1n } : m))
    for (let i = 0; i < list.length; i += 100) {
      const batch = list.slice(i, i + 100)
      await this.write(dataUnionAbi, dataUnion, 'addMembers', [
        batch.map((m) => m.address),
        batch.map((m) => m.weight ?? 1n),
      ])
    }
  }

  /** Parts a member (a join agent, the admin, or the member itself). What it earned stays withdrawable. */
  async partMember(dataUnion: Address, member: Address = this.account): Promise<void> {
    await this.requireDataUnion(dataUnion)
    await this.write(dataUnionAbi, dataUnion, 'partMember', [member])
  }

  async setMemberWeight(dataUnion: Address, member: Address, weight: bigint): Promise<void> {
    await this.requireDataUnion(dataUnion)
    await this.write(dataUnionAbi, dataUnion, 'setMemberWeight', [member, weight])
  }

  async memberInfo(dataUnion: Address, member: Address = this.account): Promise<MemberInfo> {
    await this.requireDataUnion(dataUnion)
    const v = await this.read(dataUnionAbi, dataUnion, 'memberInfo', [member])
    return {
      address: getAddress(member),
      status: MEMBER_STATUSES[v.status] ?? 'none',
      weight: v.weight,
      earned: v.earned,
      withdrawn: v.withdrawn,
      withdrawable: v.withdrawable,
    }
  }

  /**
   * Everyone who ever joined the union, first join first (from its `MemberJoined` events), with their state now.
   * `limit` caps how many are read (one call each); `total` counts them all.
   */
  async listMembers(
    dataUnion: Address,
    options: { readonly limit?: number } = {},
  ): Promise<{ members: MemberInfo[]; total: number }> {
    await this.requireDataUnion(dataUnion)
    const joined = await this.events(dataUnion, 'MemberJoined')
    const addresses = [...new Set(joined.map((log) => getAddress((log.args as { member: Address }).member)))]
    const listed = addresses.slice(0, options.limit ?? addresses.length)
    const members = await Promise.all(listed.map((member) => this.memberInfo(dataUnion, member)))
    return { members, total: addresses.length }
  }

  /** Every revenue the union accounted, oldest first (from its `RevenueReceived` events). */
  async revenueHistory(dataUnion: Address): Promise<RevenueEvent[]> {
    await this.requireDataUnion(dataUnion)
    const logs = await this.events(dataUnion, 'RevenueReceived')
    return logs.map((log) => {
      const args = log.args as { amount: bigint; adminFee: bigint; revenuePerWeight: bigint }
      return {
        blockNumber: log.blockNumber,
        amount: args.amount,
        adminFee: args.adminFee,
        revenuePerWeight: args.revenuePerWeight,
      }
    })
  }

  /** The block the union was created in. */
  async dataUnionCreationBlock(dataUnion: Address): Promise<bigint | undefined> {
    await this.requireDataUnion(dataUnion)
    const [initialized] = await this.events(dataUnion, 'Initialized')
    return initialized?.blockNumber
  }

  /** Accounts the union's token received by plain transfers as revenue; returns the amount. */
  async refreshRevenue(dataUnion: Address): Promise<bigint> {
    await this.requireDataUnion(dataUnion)
    const receipt = await this.write(dataUnionAbi, dataUnion, 'refreshRevenue', [])
    const [received] = parseEventLogs({ abi: dataUnionAbi, eventName: 'RevenueReceived', logs: receipt.logs })
    return received?.args.amount ?? 0n
  }

  /**
   * Withdraws this account's earnings to `to` (default itself): `amount`, or
   * everything withdrawable. Returns the amount sent.
   *
   * @throws {@link ChainError} `NOT_MEMBER`, `INSUFFICIENT_EARNINGS`, `INVALID_ARGUMENT` (nothing to withdraw)
   */
  async withdraw(
    dataUnion: Address,
    options: { readonly to?: Address; readonly amount?: bigint } = {},
  ): Promise<bigint> {
    await this.requireDataUnion(dataUnion)
    const to = options.to ?? this.account
    const receipt =
      options.amount === undefined
        ? await this.write(dataUnionAbi, dataUnion, 'withdrawAll', [to])
        : await this.write(dataUnionAbi, dataUnion, 'withdraw', [to, options.amount])
    const [sent] = parseEventLogs({ abi: dataUnionAbi, eventName: 'Withdrawal', logs: receipt.logs })
    return sent?.args.amount ?? 0n
  }

  /**
   * Signs, as this account (a member), a withdrawal anyone may send with
   * {@link withdrawSigned}: no gas is needed to sign. The signature uses the
   * member's current nonce, so it works once, and only before `deadline`.
   * `amount` defaults to everything withdrawable now.
   */
  async signWithdrawal(
    dataUnion: Address,
    options: { readonly to?: Address; readonly amount?: bigint; readonly validForSeconds?: number } = {},
  ): Promise<SignedWithdrawal> {
    await this.requireDataUnion(dataUnion)
    const wallet = this.wallet()
    const member = wallet.account.address
    const to = options.to ?? member
    const amount = options.amount ?? (await this.memberInfo(dataUnion, member)).withdrawable
    const deadline = (await this.chainTime()) + (options.validForSeconds ?? 3600)
    const [nonce, chainId] = await Promise.all([
      this.read(dataUnionAbi, dataUnion, 'nonces', [member]),
      this.components.publicClient.getChainId(),
    ])
    try {
      const signature = await wallet.signTypedData({
        account: wallet.account,
        domain: dataUnionDomain(chainId, dataUnion),
        types: DATA_UNION_WITHDRAW_TYPES,
        primaryType: 'Withdraw',
        message: { member, to, amount, nonce, deadline: BigInt(deadline) },
      })
      return { dataUnion: getAddress(dataUnion), member, to, amount, deadline, signature }
    } catch (err) {
      throw toChainError(err)
    }
  }

  /** Sends a member's signed withdrawal; this account pays the gas. Returns the amount sent. */
  async withdrawSigned(signed: SignedWithdrawal): Promise<bigint> {
    await this.requireDataUnion(signed.dataUnion)
    const receipt = await this.write(dataUnionAbi, signed.dataUnion, 'withdrawSigned', [
      signed.member,
      signed.to,
      signed.amount,
      BigInt(signed.deadline),
      signed.signature,
    ])
    const [sent] = parseEventLogs({ abi: dataUnionAbi, eventName: 'Withdrawal', logs: receipt.logs })
    return sent?.args.amount ?? 0n
  }

  async setAdminFee(dataUnion: Address, adminFeeBps: number): Promise<void> {
    await this.requireDataUnion(dataUnion)
    await this.write(dataUnionAbi, dataUnion, 'setAdminFee', [adminFeeBps])
  }

  async addJoinAgent(dataUnion: Address, agent: Address): Promise<void> {
    await this.requireDataUnion(dataUnion)
    await this.write(dataUnionAbi, dataUnion, 'addJoinAgent', [agent])
  }

  async isJoinAgent(dataUnion: Address, account: Address): Promise<boolean> {
    await this.requireDataUnion(dataUnion)
    const [agent, admin] = await Promise.all([
      this.read(dataUnionAbi, dataUnion, 'isJoinAgent', [account]),
      this.read(dataUnionAbi, dataUnion, 'admin', []),
    ])
    return agent || admin === getAddress(account)
  }

  /** Sends the admin's unwithdrawn fees to `to` (default the admin); returns the amount. */
  async withdrawAdminFees(dataUnion: Address, to: Address = this.account): Promise<bigint> {
    await this.requireDataUnion(dataUnion)
    const receipt = await this.write(dataUnionAbi, dataUnion, 'withdrawAdminFees', [to])
    const [sent] = parseEventLogs({ abi: dataUnionAbi, eventName: 'AdminWithdrawal', logs: receipt.logs })
    return sent?.args.amount ?? 0n
  }

  // ---- tokens ----

  async tokenBalance(account: Address = this.account, token: Address = this.token): Promise<bigint> {
    return this.read(erc20Abi, token, 'balanceOf', [account])
  }

  /** The latest block's timestamp: the clock permissions and subscriptions expire by. */
  async chainTime(): Promise<number> {
    try {
      const block = await this.components.publicClient.getBlock({ blockTag: 'latest' })
      return Number(block.timestamp)
    } catch (err) {
      throw toChainError(err)
    }
  }

  // ---- internals ----

  private async grantMarketplace(streams: readonly string[]): Promise<void> {
    const { marketplace } = this.addresses
    for (const streamId of streams) {
      const granted = await this.read(streamRegistryAbi, this.components.registry, 'hasPermission', [
        streamId,
        marketplace,
        GRANT,
      ])
      if (!granted) {
        await this.write(streamRegistryAbi, this.components.registry, 'grantPermission', [streamId, marketplace, GRANT])
      }
    }
  }

  private async events(dataUnion: Address, eventName: 'MemberJoined' | 'RevenueReceived' | 'Initialized') {
    try {
      return await this.components.publicClient.getContractEvents({
        address: dataUnion,
        abi: dataUnionAbi,
        eventName,
        fromBlock: 0n,
      })
    } catch (err) {
      throw toChainError(err)
    }
  }

  private async requireDataUnion(address: Address): Promise<void> {
    if (!(await this.isDataUnion(address))) {
      throw new ChainError('DATA_UNION_NOT_FOUND', `${address.toLowerCase()} is not a Data Union of this network`)
    }
  }

  private write(abi: Abi, address: Address, functionName: string, args: readonly unknown[]) {
    return writeContract(
      this.components.publicClient,
      this.wallet(),
      address,
      [...abi, ...ALL_ERRORS],
      functionName,
      args,
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

function toInput(input: ProductInput) {
  return {
    name: input.name,
    streams: [...input.streams],
    beneficiary: input.beneficiary,
    prices: input.prices.map((p) => ({ token: p.token, pricePerSecond: p.pricePerSecond })),
    minimumSeconds: BigInt(input.minimumSeconds ?? 0),
    termsUri: input.termsUri ?? '',
  }
}
