import type { RunnelMarket } from '@runnel/chain'
import { createWalletClient, custom, formatEther, getAddress, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { z } from 'zod'
import type { DevAccountsResponse, PurchaseResponse } from './api.js'

/** A funded development account the explorer may buy with, by a label the page shows. Never a key of value. */
export interface DevAccount {
  readonly label: string
  readonly privateKey: Hex
}

/** The longest period one purchase from the explorer may buy: 100 years, as the marketplace allows. */
const MAX_SECONDS = 100 * 365 * 86_400
const ADDRESS = /^0x[0-9a-fA-F]{40}$/

const buyBodySchema = z.strictObject({
  account: z.string().min(1).max(100),
  seconds: z.number().int().positive().max(MAX_SECONDS),
  token: z.string().regex(ADDRESS, 'a token address is 0x + 40 hex digits').optional(),
})

export type BuyBody = z.infer<typeof buyBodySchema>

/** A buy request's body, checked, or what is wrong with it (the first problems, in words). */
export function parseBuyBody(body: unknown): BuyBody | string {
  const parsed = buyBodySchema.safeParse(body)
  if (parsed.success) return parsed.data
  return parsed.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length === 0 ? 'body' : issue.path.join('.')}: ${issue.message}`)
    .join('; ')
}

/**
 * Buys products as the dev accounts it was given, each through a market binding of its own over the explorer's chain
 * connection. Only `runnel dev` gives the explorer such accounts; without any, there is nothing to buy with.
 */
export class DevBuyers {
  private readonly markets = new Map<string, RunnelMarket>()

  constructor(
    private readonly market: RunnelMarket,
    private readonly accounts: readonly DevAccount[],
  ) {}

  get enabled(): boolean {
    return this.accounts.length > 0
  }

  list(): DevAccountsResponse {
    return {
      accounts: this.accounts.map((account) => ({
        label: account.label,
        address: privateKeyToAccount(account.privateKey).address.toLowerCase(),
      })),
    }
  }

  labels(): string[] {
    return this.accounts.map((account) => account.label)
  }

  /** The account's purchase, or undefined for an unknown label; chain refusals are thrown as {@link ChainError}s. */
  async buy(productId: number, body: BuyBody): Promise<PurchaseResponse | undefined> {
    const market = this.marketOf(body.account)
    if (market === undefined) return undefined
    const purchase = await market.buy(productId, {
      seconds: body.seconds,
      ...(body.token !== undefined && { token: getAddress(body.token) }),
    })
    return {
      productId: purchase.productId,
      account: body.account,
      subscriber: purchase.subscriber.toLowerCase(),
      token: purchase.token.toLowerCase(),
      seconds: purchase.seconds,
      paid: formatEther(purchase.paid),
      endsAt: purchase.endsAt,
      transactionHash: purchase.transactionHash,
    }
  }

  private marketOf(label: string): RunnelMarket | undefined {
    const known = this.markets.get(label)
    if (known !== undefined) return known
    const account = this.accounts.find((candidate) => candidate.label === label)
    if (account === undefined) return undefined
    const walletClient = createWalletClient({
      account: privateKeyToAccount(account.privateKey),
      transport: custom(this.market.publicClient),
    })
    const market = this.market.withWallet(walletClient)
    this.markets.set(label, market)
    return market
  }
}
