import { toChainError, type ProductInfo, type RunnelMarket } from '@runnel/chain'
import { formatEther, type Address } from 'viem'
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

  /** Everyone who ever joined (first join first), with their state now. */
  private async members(union: Address): Promise<{ list: DataUnionMember[]; truncated: boolean }> {
    const { members, total } = await this.market.listMembers(union, { limit: MAX_LISTED_MEMBERS })
    return {
      list: members.map((member) => ({
        address: member.address.toLowerCase(),
        status: member.status,
        weight: member.weight.toString(),
        earned: formatEther(member.earned),
        withdrawn: formatEther(member.withdrawn),
        withdrawable: formatEther(member.withdrawable),
      })),
      truncated: total > members.length,
    }
  }

  /** Revenue over time, from RevenueReceived events: cumulative totals over all of them, the latest ones listed. */
  private async revenue(union: Address): Promise<RevenuePoint[]> {
    const events = await this.market.revenueHistory(union)
    let cumulative = 0n
    let toMembers = 0n
    const all = events.map(({ blockNumber, amount, adminFee }) => {
      cumulative += amount
      toMembers += amount - adminFee
      return { blockNumber, amount, adminFee, cumulative, toMembers }
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
    const block = await this.market.dataUnionCreationBlock(union)
    if (block === undefined) return null
    return (await this.blockTimes([block])).get(block) ?? null
  }

  private async blockTimes(blockNumbers: readonly bigint[]): Promise<Map<bigint, number>> {
    const { publicClient } = this.market
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
