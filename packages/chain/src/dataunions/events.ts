import type { Address, Hex } from 'viem'
import { ChainError } from '../errors.js'

/** Where an event sits on chain: state is built by applying events in (blockNumber, logIndex) order. */
export interface EventPosition {
  readonly blockNumber: bigint
  readonly logIndex: number
  readonly transactionHash?: Hex | undefined
}

/** A Data Union's events, decoded (see DataUnion.sol). Amounts are token wei; weights are uint96. */
export type DataUnionEventBody =
  | { readonly type: 'Initialized'; readonly admin: Address; readonly token: Address; readonly adminFeeBps: number }
  | { readonly type: 'MemberJoined'; readonly member: Address; readonly weight: bigint }
  | { readonly type: 'MemberParted'; readonly member: Address; readonly by: Address }
  | {
      readonly type: 'MemberWeightChanged'
      readonly member: Address
      readonly oldWeight: bigint
      readonly newWeight: bigint
    }
  /** `revenuePerWeight` is the contract's index after this revenue: the reducer checks its own against it. */
  | {
      readonly type: 'RevenueReceived'
      readonly amount: bigint
      readonly adminFee: bigint
      readonly revenuePerWeight: bigint
    }
  | {
      readonly type: 'Withdrawal'
      readonly member: Address
      readonly to: Address
      readonly amount: bigint
      readonly signed: boolean
    }
  | { readonly type: 'AdminWithdrawal'; readonly to: Address; readonly amount: bigint }
  | { readonly type: 'AdminFeeChanged'; readonly adminFeeBps: number }
  | { readonly type: 'AdminFeeRaiseScheduled'; readonly adminFeeBps: number; readonly effectiveAt: bigint }
  | { readonly type: 'AdminChanged'; readonly previousAdmin: Address; readonly newAdmin: Address }
  | { readonly type: 'JoinAgentAdded'; readonly agent: Address }
  | { readonly type: 'JoinAgentRemoved'; readonly agent: Address }

export type DataUnionEvent = EventPosition & DataUnionEventBody
export type DataUnionEventType = DataUnionEventBody['type']

/** The event names a Data Union emits that change its state (EIP712DomainChanged doesn't). */
export const DATA_UNION_EVENT_TYPES: readonly DataUnionEventType[] = Object.freeze([
  'Initialized',
  'MemberJoined',
  'MemberParted',
  'MemberWeightChanged',
  'RevenueReceived',
  'Withdrawal',
  'AdminWithdrawal',
  'AdminFeeChanged',
  'AdminFeeRaiseScheduled',
  'AdminChanged',
  'JoinAgentAdded',
  'JoinAgentRemoved',
])

/** The part of a viem log decoded with `dataUnionAbi` that {@link toDataUnionEvent} reads. */
export interface DecodedDataUnionLog {
  readonly eventName: string
  readonly args: Readonly<Record<string, unknown>>
  readonly blockNumber: bigint | null
  readonly logIndex: number | null
  readonly transactionHash?: Hex | null
}

/**
 * Turns a log decoded with `dataUnionAbi` (viem's `getLogs({ events })` or `parseEventLogs`) into a
 * {@link DataUnionEvent}; `undefined` for events that don't change the state.
 *
 * @throws {@link ChainError} `RPC_ERROR` for a pending log (no block yet) or arguments that don't match the ABI
 */
export function toDataUnionEvent(log: DecodedDataUnionLog): DataUnionEvent | undefined {
  if (!(DATA_UNION_EVENT_TYPES as readonly string[]).includes(log.eventName)) return undefined
  if (log.blockNumber === null || log.logIndex === null) {
    throw new ChainError('RPC_ERROR', `a ${log.eventName} log without a block: pending logs can't be applied`)
  }
  const position: EventPosition = {
    blockNumber: log.blockNumber,
    logIndex: log.logIndex,
    transactionHash: log.transactionHash ?? undefined,
  }
  const a = log.args
  const address = (name: string): Address => {
    const value = a[name]
    if (typeof value !== 'string') throw badArgument(log.eventName, name)
    return value as Address
  }
  const big = (name: string): bigint => {
    const value = a[name]
    if (typeof value !== 'bigint') throw badArgument(log.eventName, name)
    return value
  }
  const small = (name: string): number => {
    const value = a[name]
    if (typeof value !== 'number') throw badArgument(log.eventName, name)
    return value
  }
  const type = log.eventName as DataUnionEventType
  switch (type) {
    case 'Initialized':
      return { ...position, type, admin: address('admin'), token: address('token'), adminFeeBps: small('adminFeeBps') }
    case 'MemberJoined':
      return { ...position, type, member: address('member'), weight: big('weight') }
    case 'MemberParted':
      return { ...position, type, member: address('member'), by: address('by') }
    case 'MemberWeightChanged':
      return { ...position, type, member: address('member'), oldWeight: big('oldWeight'), newWeight: big('newWeight') }
    case 'RevenueReceived':
      return {
        ...position,
        type,
        amount: big('amount'),
        adminFee: big('adminFee'),
        revenuePerWeight: big('revenuePerWeight'),
      }
    case 'Withdrawal':
      return {
        ...position,
        type,
        member: address('member'),
        to: address('to'),
        amount: big('amount'),
        signed: a.signed === true,
      }
    case 'AdminWithdrawal':
      return { ...position, type, to: address('to'), amount: big('amount') }
    case 'AdminFeeChanged':
      return { ...position, type, adminFeeBps: small('adminFeeBps') }
    case 'AdminFeeRaiseScheduled':
      return { ...position, type, adminFeeBps: small('adminFeeBps'), effectiveAt: big('effectiveAt') }
    case 'AdminChanged':
      return { ...position, type, previousAdmin: address('previousAdmin'), newAdmin: address('newAdmin') }
    case 'JoinAgentAdded':
    case 'JoinAgentRemoved':
      return { ...position, type, agent: address('agent') }
  }
}

function badArgument(eventName: string, name: string): ChainError {
  return new ChainError('RPC_ERROR', `a ${eventName} log whose ${name} doesn't match the Data Union ABI`)
}

/** Orders events as the chain does: by block, then by log index. */
export function compareEventPositions(a: EventPosition, b: EventPosition): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1
  return a.logIndex - b.logIndex
}
