import { readFile } from 'node:fs/promises'
import type { DataUnionInfo, MemberInfo, ProductInfo, SignedWithdrawal, SubscriptionInfo } from '@runnel/chain'
import { formatRnl, formatDuration } from './amounts.js'
import type { CliContext } from './context.js'
import { CliError } from './errors.js'
import { isoTime } from './incentives.js'
import { parseAddressArgument } from './options.js'

/** The longest period one purchase may buy here: a century (the contract refuses more anyway). */
const MAX_PERIOD_SECONDS = 100 * 365 * 86_400
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 }

/**
 * Parses a duration typed on the command line: `3600` (seconds), `60s`, `90m`, `1h`, `7d`, `2w`, or parts together
 * (`1h30m`).
 *
 * @param options.allowZero accept 0 (a product's minimum period); a period to buy must be above zero
 * @throws {@link CliError} `INVALID_INPUT`, naming `what`
 */
export function parseDuration(value: string, what: string, options: { readonly allowZero?: boolean } = {}): number {
  const text = value.trim().toLowerCase()
  const refuse = (why: string): never => {
    throw new CliError('INVALID_INPUT', `${what}: ${JSON.stringify(value)} ${why}`)
  }
  let seconds: number
  if (/^\d+$/.test(text)) seconds = Number(text)
  else if (/^(\d+[smhdw])+$/.test(text)) {
    seconds = 0
    for (const [, amount, unit] of text.matchAll(/(\d+)([smhdw])/g)) seconds += Number(amount) * UNITS[unit!]!
  } else {
    return refuse('is not a duration (expected seconds, or a number with s, m, h, d or w: 60s, 1h, 1h30m, 7d)')
  }
  if (!Number.isSafeInteger(seconds) || seconds > MAX_PERIOD_SECONDS) refuse('is longer than 100 years')
  if (seconds === 0 && options.allowZero !== true) refuse('is zero; the period must be above zero')
  return seconds
}

/**
 * Parses a fee as a percentage (`10`, `12.5`, `10%`) or in basis points (`1000bps`), into basis points.
 *
 * @throws {@link CliError} `INVALID_INPUT`
 */
export function parseFeeBps(value: string, what: string): number {
  const text = value.trim().toLowerCase()
  let bps: number
  const bpsMatch = /^(\d+)\s*bps$/.exec(text)
  const percentMatch = /^(\d+(?:\.\d{1,2})?)\s*%?$/.exec(text)
  if (bpsMatch !== null) bps = Number(bpsMatch[1])
  else if (percentMatch !== null) bps = Math.round(Number(percentMatch[1]) * 100)
  else {
    throw new CliError(
      'INVALID_INPUT',
      `${what}: ${JSON.stringify(value)} is not a fee (expected a percentage such as 10 or 12.5%, or basis points such as 1000bps)`,
    )
  }
  if (bps > 10_000) throw new CliError('INVALID_INPUT', `${what}: ${JSON.stringify(value)} is more than 100%`)
  return bps
}

/** An amount in the token's smallest unit: RNL decimals for the network token, wei with the token named otherwise. */
export function showAmount(wei: bigint, token: string, networkToken: string): string {
  return token.toLowerCase() === networkToken.toLowerCase()
    ? `${formatRnl(wei)} RNL`
    : `${wei} wei of ${token.toLowerCase()}`
}

/** Amounts of the network token as RNL decimal strings, of other tokens as wei strings (scripts read `token`). */
function amountJson(wei: bigint, token: string, networkToken: string): string {
  return token.toLowerCase() === networkToken.toLowerCase() ? formatRnl(wei) : wei.toString()
}

export function productJson(product: ProductInfo, networkToken: string): Record<string, unknown> {
  return {
    id: product.id,
    name: product.name,
    owner: product.owner.toLowerCase(),
    streams: product.streams,
    beneficiary: product.beneficiary.toLowerCase(),
    beneficiaryIsDataUnion: product.beneficiaryIsDataUnion,
    prices: product.prices.map((price) => ({
      token: price.token.toLowerCase(),
      pricePerSecond: amountJson(price.pricePerSecond, price.token, networkToken),
      pricePerSecondWei: price.pricePerSecond.toString(),
    })),
    minimumSeconds: product.minimumSeconds,
    termsUri: product.termsUri,
    listed: product.listed,
  }
}

export function productFields(product: ProductInfo, networkToken: string): [string, string][] {
  return [
    ['name', product.name],
    ['owner', product.owner.toLowerCase()],
    ['streams', product.streams.join(', ')],
    ['beneficiary', `${product.beneficiary.toLowerCase()}${product.beneficiaryIsDataUnion ? ' (Data Union)' : ''}`],
    ...product.prices.map((price): [string, string] => [
      'price',
      `${showAmount(price.pricePerSecond, price.token, networkToken)}/s`,
    ]),
    ['minimum period', formatDuration(BigInt(product.minimumSeconds))],
    ['terms', product.termsUri === '' ? '(none)' : product.termsUri],
    ['listed', product.listed ? 'yes' : 'no (delisted: no new purchases)'],
  ]
}

export function subscriptionJson(subscription: SubscriptionInfo): Record<string, unknown> {
  return {
    productId: subscription.productId,
    subscriber: subscription.subscriber.toLowerCase(),
    endsAt: subscription.endsAt,
    endsAtIso: subscription.endsAt === 0 ? null : isoTime(subscription.endsAt),
    active: subscription.active,
  }
}

export function subscriptionLine(subscription: SubscriptionInfo): string {
  if (subscription.endsAt === 0) return `product ${subscription.productId}  never bought`
  return `product ${subscription.productId}  ${subscription.active ? 'active until' : 'ended'} ${isoTime(subscription.endsAt)}`
}

export function dataUnionJson(union: DataUnionInfo, networkToken: string): Record<string, unknown> {
  const amount = (wei: bigint): string => amountJson(wei, union.token, networkToken)
  return {
    address: union.address.toLowerCase(),
    admin: union.admin.toLowerCase(),
    token: union.token.toLowerCase(),
    adminFeePercent: union.adminFeeBps / 100,
    metadata: union.metadata,
    activeMemberCount: union.activeMemberCount,
    memberCount: union.memberCount,
    totalWeight: union.totalWeight.toString(),
    totalRevenue: amount(union.totalRevenue),
    totalWithdrawn: amount(union.totalWithdrawn),
    adminEarned: amount(union.adminEarned),
    adminWithdrawn: amount(union.adminWithdrawn),
  }
}

export function dataUnionFields(union: DataUnionInfo, networkToken: string): [string, string][] {
  const amount = (wei: bigint): string => showAmount(wei, union.token, networkToken)
  return [
    ['admin', union.admin.toLowerCase()],
    ['admin fee', `${union.adminFeeBps / 100}%`],
    ['members', `${union.activeMemberCount} active (${union.memberCount} ever), total weight ${union.totalWeight}`],
    ['revenue', amount(union.totalRevenue)],
    ['withdrawn', amount(union.totalWithdrawn)],
    ['admin fees', `${amount(union.adminEarned)} earned, ${amount(union.adminWithdrawn)} withdrawn`],
    ...(union.metadata === '' ? [] : [['metadata', union.metadata] as [string, string]]),
  ]
}

export function memberJson(member: MemberInfo, token: string, networkToken: string): Record<string, unknown> {
  return {
    address: member.address.toLowerCase(),
    status: member.status,
    weight: member.weight.toString(),
    earned: amountJson(member.earned, token, networkToken),
    withdrawn: amountJson(member.withdrawn, token, networkToken),
    withdrawable: amountJson(member.withdrawable, token, networkToken),
  }
}

/** A signed withdrawal as the JSON `du withdraw --sign-only` prints and `du withdraw-signed` reads. */
export function signedWithdrawalJson(signed: SignedWithdrawal): Record<string, unknown> {
  return {
    dataUnion: signed.dataUnion.toLowerCase(),
    member: signed.member.toLowerCase(),
    to: signed.to.toLowerCase(),
    amount: signed.amount.toString(),
    deadline: signed.deadline,
    signature: signed.signature,
  }
}

/**
 * Reads and checks a signed withdrawal (`du withdraw --sign-only`'s output) from a file, or stdin for `-`.
 *
 * @throws {@link CliError} `INVALID_INPUT` naming what is wrong
 */
export async function readSignedWithdrawal(context: CliContext, source: string): Promise<SignedWithdrawal> {
  const what = source === '-' ? 'the signed withdrawal on stdin' : `signed withdrawal file ${source}`
  let text: string
  try {
    text = source === '-' ? await readStream(context.stdin) : await readFile(source, 'utf8')
  } catch (err) {
    throw new CliError('INVALID_INPUT', `can't read ${what}: ${(err as Error).message}`, { cause: err })
  }
  return parseSignedWithdrawal(text, what)
}

/** @throws {@link CliError} `INVALID_INPUT` */
export function parseSignedWithdrawal(text: string, what: string): SignedWithdrawal {
  const expected = 'expected the JSON `runnel du withdraw --sign-only` prints'
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new CliError('INVALID_INPUT', `${what} is not valid JSON: ${expected}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError('INVALID_INPUT', `${what} is not a JSON object: ${expected}`)
  }
  const { dataUnion, member, to, amount, deadline, signature } = value as Record<string, unknown>
  const address = (field: unknown, name: string): `0x${string}` => {
    if (typeof field !== 'string') throw new CliError('INVALID_INPUT', `${what}: ${name} is missing (${expected})`)
    return parseAddressArgument(field, `${what}: ${name}`)
  }
  if (typeof amount !== 'string' || !/^\d{1,78}$/.test(amount)) {
    throw new CliError('INVALID_INPUT', `${what}: amount must be a whole number of wei as a string`)
  }
  if (typeof deadline !== 'number' || !Number.isSafeInteger(deadline) || deadline < 0) {
    throw new CliError('INVALID_INPUT', `${what}: deadline must be Unix seconds`)
  }
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) {
    throw new CliError('INVALID_INPUT', `${what}: signature must be 65 bytes of 0x-prefixed hex`)
  }
  return {
    dataUnion: address(dataUnion, 'dataUnion'),
    member: address(member, 'member'),
    to: address(to, 'to'),
    amount: BigInt(amount),
    deadline,
    signature: signature as `0x${string}`,
  }
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    if (text.length > 64 * 1024) throw new Error('more than 64 KiB')
  }
  return text
}
