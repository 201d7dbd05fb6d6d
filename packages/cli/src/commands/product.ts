import { Argument, type Command } from 'commander'
import type { ProductInfo, ProductInput, RunnelMarket } from '@runnel/chain'
import type { RunnelClient } from '@runnel/client'
import { formatDuration, formatRnl, parseRnl } from '../amounts.js'
import { withClient } from '../client.js'
import { note, printJson, printLine, type CliContext } from '../context.js'
import { CliError } from '../errors.js'
import { defineSubcommand, idArgument, isoTime, printFields } from '../incentives.js'
import { parseDuration, productFields, productJson, showAmount, subscriptionJson, subscriptionLine } from '../market.js'
import { checkStreamPath, parseAddressArgument, requireKey, settingsOf, type JsonOption } from '../options.js'

interface ProductOptions extends JsonOption {
  readonly name?: string
  readonly stream?: readonly string[]
  readonly beneficiary?: string
  readonly price?: string
  readonly token?: string
  readonly priceWei?: boolean
  readonly minimumPeriod?: string
  readonly terms?: string
}

interface BuyOptions extends JsonOption {
  readonly period: string
  readonly token?: string
  readonly maxPrice?: string
  readonly priceWei?: boolean
}

const PRICE_HELP =
  'Prices are per second of access, in RNL (0.001) for the network token, or in the token’s smallest unit with --price-wei.'

/** `runnel product …`: selling time-limited subscribe access to streams on the marketplace. */
export function registerProductCommands(program: Command, context: CliContext): void {
  const product = program
    .command('product')
    .description('sell and buy access to streams on the marketplace: create, list, show, buy and subscriptions')
    .addHelpText(
      'after',
      `
A product sells subscribe permission on its streams for a time: a buyer pays price × seconds to the beneficiary (an
address, or a Data Union that shares it among its members) and may subscribe until the subscription ends; buying
again extends it. The seller must hold grant on each stream; creating the product grants the marketplace too.
${PRICE_HELP} Periods: 3600, 60s, 90m, 1h, 7d, 1h30m.`,
    )

  defineSubcommand(
    product,
    'create',
    'list a new product; prints its id',
    [
      'runnel product create --name "Greenhouse climate" --stream /greenhouse/climate --price 0.001 --minimum-period 1h',
      'runnel product create --name Weather --stream /weather --beneficiary 0x5fc8…07c2 --price 0.0005 --terms https://example.org/terms',
    ],
    (command) =>
      productOptions(command)
        .requiredOption('--name <name>', 'the name buyers see')
        .requiredOption('--stream <streamId...>', 'stream(s) sold, each an id or a /path of your own (1–20)')
        .requiredOption('--price <amount>', 'price per second (RNL, or wei with --price-wei); 0 is free'),
  ).action(async (options: ProductOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'creating a product')
    for (const stream of options.stream ?? []) checkStreamPath(settings, stream)
    const created = await withClient(settings, async (client) => {
      const input = await productInput(client, options, undefined)
      const product = await client.market.createProduct(input)
      return { product, token: client.market.token }
    })
    printProduct(context, created.product, created.token, options, 'created product')
  })

  defineSubcommand(
    product,
    'update',
    "change a product of yours: what isn't given stays as it is (a new --price replaces the prices)",
    ['runnel product update 1 --price 0.002', 'runnel product update 1 --stream /weather /weather/alerts'],
    (command) =>
      productOptions(command)
        .addArgument(productArgument())
        .option('--name <name>', 'the name buyers see')
        .option('--stream <streamId...>', 'the streams sold, replacing the current ones')
        .option('--price <amount>', 'price per second, replacing every current price'),
  ).action(async (id: number, options: ProductOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'updating a product')
    for (const stream of options.stream ?? []) checkStreamPath(settings, stream)
    const updated = await withClient(settings, async (client) => {
      const current = await client.market.getProduct(id)
      const input = await productInput(client, options, current)
      return { product: await client.market.updateProduct(id, input), token: client.market.token }
    })
    printProduct(context, updated.product, updated.token, options, 'updated product')
  })

  for (const [name, listed] of [
    ['delist', false],
    ['relist', true],
  ] as const) {
    defineSubcommand(
      product,
      name,
      listed ? 'list a delisted product of yours again' : 'stop selling a product of yours (subscriptions run on)',
      [`runnel product ${name} 1`],
      (command) => command.addArgument(productArgument()),
    ).action(async (id: number, options: JsonOption, command: Command) => {
      const settings = await settingsOf(command, context)
      requireKey(settings, `${name}ing a product`)
      const changed = await withClient(settings, async (client) => {
        await client.market.getProduct(id)
        if (listed) await client.market.relistProduct(id)
        else await client.market.delistProduct(id)
        return { product: await client.market.getProduct(id), token: client.market.token }
      })
      printProduct(context, changed.product, changed.token, options, `${name}ed product`)
    })
  }

  defineSubcommand(
    product,
    'list',
    'list products, oldest first: listed ones, unless --all',
    ['runnel product list', 'runnel product list --owner 0x3c44…93bc --all --json'],
    (command) =>
      command.option('--owner <address>', "only this seller's products").option('--all', 'delisted products too'),
  ).action(async (options: JsonOption & { owner?: string; all?: boolean }, command: Command) => {
    const settings = await settingsOf(command, context)
    const owner = options.owner === undefined ? undefined : parseAddressArgument(options.owner, '--owner')
    const { found, token } = await withClient(settings, async (client) => ({
      found: await client.market.listProducts({
        ...(owner !== undefined && { owner }),
        includeDelisted: options.all === true,
      }),
      token: client.market.token,
    }))
    if (options.json === true) {
      printJson(
        context,
        found.map((each) => productJson(each, token)),
      )
      return
    }
    if (found.length === 0) note(context, 'no products')
    for (const each of found) {
      const prices = each.prices.map((price) => `${showAmount(price.pricePerSecond, price.token, token)}/s`)
      printLine(
        context,
        `${each.id}  ${each.name}  ${prices.join(' or ')}  ${each.streams.length} stream${each.streams.length === 1 ? '' : 's'}${each.listed ? '' : '  (delisted)'}`,
      )
    }
  })

  defineSubcommand(
    product,
    'show',
    'show a product: streams, beneficiary, prices, minimum period, terms',
    ['runnel product show 1'],
    (command) => command.addArgument(productArgument()),
  ).action(async (id: number, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    const shown = await withClient(settings, async (client) => ({
      product: await client.market.getProduct(id),
      token: client.market.token,
    }))
    printProduct(context, shown.product, shown.token, options)
  })

  defineSubcommand(
    product,
    'buy',
    'buy (or extend) access to a product for a period; approves the marketplace for the most it may cost first',
    ['runnel product buy 1 --period 1h', 'runnel product buy 1 --period 7d --max-price 0.0012'],
    (command) =>
      command
        .addArgument(productArgument())
        .requiredOption('--period <duration>', 'how long: 3600, 60s, 1h, 7d, 1h30m')
        .option('--token <address>', 'pay in this token (default: the network token)')
        .option('--max-price <amount>', 'refuse if the price per second is above this (default: the price now)')
        .option('--price-wei', '--max-price is in the token’s smallest unit, not RNL'),
  ).action(async (id: number, options: BuyOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'buying a product')
    const seconds = parseDuration(options.period, '--period')
    const token = options.token === undefined ? undefined : parseAddressArgument(options.token, '--token')
    const maxPrice = options.maxPrice === undefined ? undefined : parsePrice(options.maxPrice, '--max-price', options)
    const { purchase, networkToken } = await withClient(settings, async (client) => {
      await client.market.getProduct(id)
      const purchase = await client.market.buy(id, {
        seconds,
        ...(token !== undefined && { token }),
        ...(maxPrice !== undefined && { maxPricePerSecond: maxPrice }),
      })
      return { purchase, networkToken: client.market.token }
    })
    if (options.json === true) {
      printJson(context, {
        productId: purchase.productId,
        subscriber: purchase.subscriber.toLowerCase(),
        token: purchase.token.toLowerCase(),
        seconds: purchase.seconds,
        paid:
          purchase.token.toLowerCase() === networkToken.toLowerCase()
            ? formatRnl(purchase.paid)
            : purchase.paid.toString(),
        paidWei: purchase.paid.toString(),
        endsAt: purchase.endsAt,
        endsAtIso: isoTime(purchase.endsAt),
        transactionHash: purchase.transactionHash,
      })
      return
    }
    printLine(
      context,
      `bought ${formatDuration(BigInt(purchase.seconds))} of product ${purchase.productId} for ${showAmount(purchase.paid, purchase.token, networkToken)}; access until ${isoTime(purchase.endsAt)}`,
    )
  })

  defineSubcommand(
    product,
    'subscription',
    "show a subscriber's subscription to a product (default: yours)",
    ['runnel product subscription 1', 'runnel product subscription 1 --subscriber 0x3c44…93bc'],
    (command) =>
      command.addArgument(productArgument()).option('--subscriber <address>', 'whose (default: your key’s address)'),
  ).action(async (id: number, options: JsonOption & { subscriber?: string }, command: Command) => {
    const settings = await settingsOf(command, context)
    const subscriber =
      options.subscriber === undefined ? undefined : parseAddressArgument(options.subscriber, '--subscriber')
    if (subscriber === undefined) requireKey(settings, '`product subscription` without --subscriber')
    const shown = await withClient(settings, async (client) => {
      await client.market.getProduct(id)
      return client.market.subscription(id, subscriber)
    })
    if (options.json === true) printJson(context, subscriptionJson(shown))
    else printLine(context, subscriptionLine(shown))
  })

  defineSubcommand(
    product,
    'subscriptions',
    'list the products you (or --subscriber) bought, and whether each subscription is active or ended',
    ['runnel product subscriptions', 'runnel product subscriptions --json'],
    (command) => command.option('--subscriber <address>', 'whose (default: your key’s address)'),
  ).action(async (options: JsonOption & { subscriber?: string }, command: Command) => {
    const settings = await settingsOf(command, context)
    const subscriber =
      options.subscriber === undefined ? undefined : parseAddressArgument(options.subscriber, '--subscriber')
    if (subscriber === undefined) requireKey(settings, '`product subscriptions` without --subscriber')
    const found = await withClient(settings, (client) => client.market.subscriptionsOf(subscriber))
    if (options.json === true) {
      printJson(context, found.map(subscriptionJson))
      return
    }
    if (found.length === 0) note(context, 'no subscriptions')
    for (const each of found) printLine(context, subscriptionLine(each))
  })
}

/** The options `create` and `update` share. */
function productOptions(command: Command): Command {
  return command
    .option('--beneficiary <address>', 'who is paid: an address or a Data Union (default: your address)')
    .option('--token <address>', 'the token --price is in (default: the network token, RNL)')
    .option('--price-wei', '--price is in the token’s smallest unit (for tokens other than RNL)')
    .option('--minimum-period <duration>', 'the shortest period one purchase may buy (default 0: any)')
    .option('--terms <uri>', 'where the terms of use are (a URL or an IPFS reference)')
}

function productArgument(): Argument {
  return new Argument('<id>', 'the product').argParser(idArgument('<id>'))
}

/** What `create` sends, or `update` (the current product's values where no option is given). */
async function productInput(
  client: RunnelClient,
  options: ProductOptions,
  current: ProductInfo | undefined,
): Promise<ProductInput> {
  const market: RunnelMarket = client.market
  const streams =
    options.stream === undefined
      ? (current?.streams ?? [])
      : await Promise.all(options.stream.map(async (stream) => (await client.getStream(stream)).id))
  const token = options.token === undefined ? market.token : parseAddressArgument(options.token, '--token')
  const prices =
    options.price === undefined
      ? (current?.prices ?? [])
      : [{ token, pricePerSecond: parsePrice(options.price, '--price', options) }]
  if (options.price === undefined && options.token !== undefined) {
    throw new CliError('INVALID_INPUT', '--token names the token of --price: give --price too')
  }
  const beneficiary =
    options.beneficiary === undefined
      ? (current?.beneficiary ?? market.account)
      : parseAddressArgument(options.beneficiary, '--beneficiary')
  const minimumSeconds =
    options.minimumPeriod === undefined
      ? (current?.minimumSeconds ?? 0)
      : parseDuration(options.minimumPeriod, '--minimum-period', { allowZero: true })
  return {
    name: options.name ?? current?.name ?? '',
    streams,
    beneficiary,
    prices,
    minimumSeconds,
    termsUri: options.terms ?? current?.termsUri ?? '',
  }
}

/** A price per second: RNL decimals, or a whole number of the token's smallest unit with `--price-wei`. */
function parsePrice(value: string, what: string, options: { readonly priceWei?: boolean }): bigint {
  if (options.priceWei !== true) return parseRnl(value, what, { allowZero: true })
  if (!/^\d{1,78}$/.test(value.trim())) {
    throw new CliError('INVALID_INPUT', `${what}: ${JSON.stringify(value)} is not a whole number of wei`)
  }
  return BigInt(value.trim())
}

function printProduct(
  context: CliContext,
  product: ProductInfo,
  networkToken: string,
  options: JsonOption,
  heading = 'product',
): void {
  if (options.json === true) printJson(context, productJson(product, networkToken))
  else printFields(context, `${heading} ${product.id}`, productFields(product, networkToken))
}
