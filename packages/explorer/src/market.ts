import {
  dataUnionAbi,
  toChainError,
  type ProductInfo,
  type RunnelMarket,
  type RunnelMarketComponents,
} from '@runnel/chain'
import { formatEther, getAddress, type Address } from 'viem'
import type {
  DataUnionDetails,
  DataUnionMember,
  DataUnionSummary,
  DataUnionsList,
  ProductSummary,
  ProductsList,
  RevenuePoint,
  SubscriptionsResponse,
} from './api.js'

/** Members listed on a Data Union's page; more are counted, not listed. */
export const MAX_LISTED_MEMBERS = 1_000
/** Revenue events charted on a Data Union's page: the latest ones. */
export const MAX_REVENUE_POINTS = 1_000

/**
 * The chain clients and addresses a market binding was built with. `RunnelMarket` keeps them to itself and has no
 * reads of a union's member or revenue events; the explorer reads those events over the binding's own connection
 * (rather than asking for a second chain setting) and builds its dev buyers' bindings from the same parts.
 */
export function marketComponentsOf(market: RunnelMarket): RunnelMarketComponents {
  // Element access is TypeScript's sanctioned way past `private`: the type stays checked.
  return market['components']
}

/** Products, subscriptions and Data Unions as the explorer's pages show them, read from the chain when asked. */
export class MarketReader {
  constructor(private readonly market: RunnelMarket) {}

  async products(includeDelisted: boolean): Promise<ProductsList> {
    const products = await this.market.listProducts({ includeDelisted })
    return { products: products.map((product) => this.summarize(product)), networkToken: this.networkToken() }
  }

  /** @throws {@link ChainError} `PRODUCT_NOT_FOUND` */
  async product(productId: number): Promise<ProductSummary> {
    return this.summarize(await this.market.getProduct(productId))
  }

  async subscriptions(subscriber: Address): Promise<SubscriptionsResponse> {
    const [subscriptions, chainTime] = await Promise.all([
      this.market.subscriptionsOf(subscriber),
      this.market.chainTime(),
    ])
    const names = await Promise.all(
      subscriptions.map((subscription) =>
        this.market.getProduct(subscription.productId).then(
          (product) => product.name,
          () => null,
        ),
      ),
    )
    return {
      subscriber: subscriber.toLowerCase(),
      chainTime,
      subscriptions: subscriptions
        .map((subscription, i) => ({
          productId: subscription.productId,
          productName: names[i] ?? null,
          endsAt: subscription.endsAt,
          active: subscription.endsAt > chainTime,
        }))
        .sort((a, b) => b.endsAt - a.endsAt),
    }
  }

  async dataUnions(): Promise<DataUnionsList> {
    const addresses = await this.market.listDataUnions()
    return { dataUnions: await Promise.all(addresses.map((address) => this.summary(address))) }
  }

  /** @throws {@link ChainError} `DATA_UNION_NOT_FOUND` */
  async dataUnion(address: Address): Promise<DataUnionDetails> {
    const info = await this.market.getDataUnion(address)
    const [members, revenue, createdAt] = await Promise.all([
      this.members(info.address),
      this.revenue(info.address),
      this.createdAt(info.address),
    ])
    return {
      ...this.summaryOf(info),
      totalWithdrawn: formatEther(info.totalWithdrawn),
      totalWeight: info.totalWeight.toString(),
      membersRevenue: formatEther(info.totalRevenue - info.adminEarned),
      adminEarned: formatEther(info.adminEarned),
      adminWithdrawn: formatEther(info.adminWithdrawn),
      members: members.list,
      membersTruncated: members.truncated,
      revenue,
      createdAt,
    }
  }

  private async summary(address: Address): Promise<DataUnionSummary> {
    return this.summaryOf(await this.market.getDataUnion(address))
  }

  private summaryOf(info: Awaited<ReturnType<RunnelMarket['getDataUnion']>>): DataUnionSummary {
    return {
      address: info.address.toLowerCase(),
      admin: info.admin.toLowerCase(),
      token: info.token.toLowerCase(),
      adminFeeBps: info.adminFeeBps,
      metadata: info.metadata,
      totalRevenue: formatEther(info.totalRevenue),
      activeMemberCount: info.activeMemberCount,
      memberCount: info.memberCount,
    }
  }

  /** Everyone who ever joined (MemberJoined events, first join first), with their state now. */
  private async members(union: Address): Promise<{ list: DataUnionMember[]; truncated: boolean }> {
    const joined = await this.events(union, 'MemberJoined')
    const addresses = [...new Set(joined.map((log) => getAddress((log.args as { member: Address }).member)))]
    const listed = addresses.slice(0, MAX_LISTED_MEMBERS)
    const { publicClient } = marketComponentsOf(this.market)
    const infos = await Promise.all(
      listed.map(async (member) => {
        try {
          return await publicClient.readContract({
            address: union,
            abi: dataUnionAbi,
            functionName: 'memberInfo',
            args: [member],
          })
        } catch (err) {
          throw toChainError(err)
        }
      }),
    )
    const statuses = ['none', 'active', 'parted'] as const
    return {
      list: listed.map((member, i) => {
        const info = infos[i]!
        return {
          address: member.toLowerCase(),
          status: statuses[info.status] ?? 'none',
          weight: info.weight.toString(),
          earned: formatEther(info.earned),
          withdrawn: formatEther(info.withdrawn),
          withdrawable: formatEther(info.withdrawable),
        }
      }),
      truncated: addresses.length > listed.length,
    }
  }

  /** Revenue over time, from RevenueReceived events: cumulative totals over all of them, the latest ones listed. */
  private async revenue(union: Address): Promise<RevenuePoint[]> {
    const logs = await this.events(union, 'RevenueReceived')
    let cumulative = 0n
    let toMembers = 0n
    const all = logs.map((log) => {
      const { amount, adminFee } = log.args as { amount: bigint; adminFee: bigint }
      cumulative += amount
      toMembers += amount - adminFee
      return { blockNumber: log.blockNumber, amount, adminFee, cumulative, toMembers }
    })
    const latest = all.slice(-MAX_REVENUE_POINTS)
    const times = await this.blockTimes(latest.map((point) => point.blockNumber))
    return latest.map((point) => ({
      time: times.get(point.blockNumber) ?? 0,
      amount: formatEther(point.amount),
      adminFee: formatEther(point.adminFee),
      cumulative: formatEther(point.cumulative),
      cumulativeToMembers: formatEther(point.toMembers),
    }))
  }

  private async createdAt(union: Address): Promise<number | null> {
    const [initialized] = await this.events(union, 'Initialized')
    if (initialized === undefined) return null
    return (await this.blockTimes([initialized.blockNumber])).get(initialized.blockNumber) ?? null
  }

  private async events(union: Address, eventName: 'MemberJoined' | 'RevenueReceived' | 'Initialized') {
    try {
      return await marketComponentsOf(this.market).publicClient.getContractEvents({
        address: union,
        abi: dataUnionAbi,
        eventName,
        fromBlock: 0n,
      })
    } catch (err) {
      throw toChainError(err)
    }
  }

  private async blockTimes(blockNumbers: readonly bigint[]): Promise<Map<bigint, number>> {
    const { publicClient } = marketComponentsOf(this.market)
    const unique = [...new Set(blockNumbers)]
    try {
      const blocks = await Promise.all(unique.map((blockNumber) => publicClient.getBlock({ blockNumber })))
      return new Map(blocks.map((block, i) => [unique[i]!, Number(block.timestamp)]))
    } catch (err) {
      throw toChainError(err)
    }
  }

  private networkToken(): string {
    return this.market.token.toLowerCase()
  }

  private summarize(product: ProductInfo): ProductSummary {
    const networkToken = this.networkToken()
    return {
      id: product.id,
      name: product.name,
      owner: product.owner.toLowerCase(),
      streams: product.streams,
      beneficiary: product.beneficiary.toLowerCase(),
      beneficiaryIsDataUnion: product.beneficiaryIsDataUnion,
      prices: product.prices.map((price) => ({
        token: price.token.toLowerCase(),
        isNetworkToken: price.token.toLowerCase() === networkToken,
        perSecond: formatEther(price.pricePerSecond),
        perHour: formatEther(price.pricePerSecond * 3600n),
      })),
      minimumSeconds: product.minimumSeconds,
      termsUri: product.termsUri,
      listed: product.listed,
    }
  }
}
