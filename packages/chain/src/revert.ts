import { type Abi, BaseError, ContractFunctionRevertedError, InvalidAddressError, formatUnits } from 'viem'
import { ChainError, type ChainErrorCode } from './errors.js'
import { PERMISSION_NAMES } from './permissions.js'

const VERB: Record<string, string> = {
  edit: 'edit',
  delete: 'delete',
  publish: 'publish to',
  subscribe: 'subscribe to',
  grant: 'grant on',
}

/** Every error declared by the given ABIs, once each: a revert deep in a call chain is decoded with all of them. */
export function errorsOf(abis: readonly unknown[]): Abi {
  const seen = new Set<string>()
  return (abis as Abi[])
    .flatMap((abi) => abi.filter((item) => item.type === 'error'))
    .filter((item) => {
      const key = JSON.stringify(item)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
}

/** Turns a viem error from a contract call into a ChainError naming what was refused. */
export function toChainError(err: unknown): ChainError {
  if (err instanceof ChainError) return err
  const reverted = err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : undefined
  if (reverted instanceof ContractFunctionRevertedError && reverted.data !== undefined) {
    const args = reverted.data.args ?? []
    const [code, message] = describe(reverted.data.errorName, args)
    return new ChainError(code, message, { cause: err })
  }
  if (err instanceof BaseError && err.walk((e) => e instanceof InvalidAddressError) instanceof InvalidAddressError) {
    return new ChainError('INVALID_ARGUMENT', err.shortMessage, { cause: err })
  }
  const text = err instanceof BaseError ? err.shortMessage : err instanceof Error ? err.message : String(err)
  return new ChainError('RPC_ERROR', text, { cause: err })
}

function describe(name: string, args: readonly unknown[]): [ChainErrorCode, string] {
  const [first, second, third] = args
  switch (name) {
    case 'PermissionDenied': {
      const permission = PERMISSION_NAMES[Number(third)] ?? String(third)
      return ['PERMISSION_DENIED', `${lower(second)} may not ${VERB[permission] ?? permission} ${String(first)}`]
    }
    case 'NotStreamEditor':
      return ['PERMISSION_DENIED', `${lower(second)} may not edit ${String(first)} (needed to assign storage nodes)`]
    case 'StreamNotFound':
      return ['STREAM_NOT_FOUND', `no stream ${String(first)}`]
    case 'StreamAlreadyExists':
      return ['STREAM_ALREADY_EXISTS', `${String(first)} exists already`]
    case 'InvalidPath':
      return ['INVALID_PATH', `stream path ${JSON.stringify(first)}: ${String(second)}`]
    case 'InvalidMetadata':
      return ['INVALID_METADATA', `${String(first)} (at byte ${String(second)})`]
    case 'InvalidPublicPermission':
      return [
        'INVALID_PUBLIC_PERMISSION',
        `${PERMISSION_NAMES[Number(first)] ?? String(first)} can't be public; only publish and subscribe can`,
      ]
    case 'InvalidBatchSize':
      return ['INVALID_ARGUMENT', `a permission batch has 1..${String(second)} entries, got ${String(first)}`]
    case 'NodeNotRegistered':
      return ['NODE_NOT_REGISTERED', `${lower(first)} is not a registered storage node`]
    case 'InvalidNodeMetadata':
      return ['INVALID_NODE_METADATA', String(first)]
    case 'AlreadyAssigned':
      return ['ALREADY_ASSIGNED', `${lower(second)} already stores ${String(first)}`]
    case 'NotAssigned':
      return ['NOT_ASSIGNED', `${lower(second)} does not store ${String(first)}`]
    default:
      return (
        describeIncentives(name, args) ??
        describeMarket(name, args) ?? ['RPC_ERROR', `contract reverted with ${name}(${args.map(String).join(', ')})`]
      )
  }
}

const FLAG_STATUS = ['none', 'open', 'kicked', 'a false flag', 'inconclusive']

function describeIncentives(name: string, args: readonly unknown[]): [ChainErrorCode, string] | undefined {
  const [a, b, c, d] = args
  const tokens = (wei: unknown): string => `${formatUnits(BigInt(wei as bigint), 18)} RNL`
  switch (name) {
    case 'SponsorshipNotFound':
      return ['SPONSORSHIP_NOT_FOUND', `no sponsorship ${String(a)}`]
    case 'InvalidTerms':
    case 'InvalidParams':
      return ['INVALID_ARGUMENT', `invalid sponsorship terms: ${String(a)}`]
    case 'NotAnOperator':
      return ['NOT_AN_OPERATOR', `${lower(a)} is not an operator contract (create one with createOperator)`]
    case 'OperatorExists':
      return ['OPERATOR_EXISTS', `${lower(a)} already has operator ${lower(b)}`]
    case 'StakeBelowMinimum':
      return ['STAKE_BELOW_MINIMUM', `a stake of ${tokens(a)} is below the minimum of ${tokens(b)}`]
    case 'SponsorshipFull':
      return ['SPONSORSHIP_FULL', `sponsorship ${String(a)} has its maximum of ${String(b)} operators`]
    case 'NotStaked':
      return ['NOT_STAKED', `operator ${lower(b)} is not staked on sponsorship ${String(a)}`]
    case 'UnderReview':
      return ['UNDER_REVIEW', `operator ${lower(b)} is flagged on sponsorship ${String(a)}; wait for the vote`]
    case 'StakeLocked':
      return [
        'STAKE_LOCKED',
        `${tokens(c)} of operator ${lower(b)}'s stake on sponsorship ${String(a)} backs open flags; wait for their votes`,
      ]
    case 'InsufficientFreeStake':
      return [
        'STAKE_LOCKED',
        `operator ${lower(b)} has ${tokens(c)} of free stake on sponsorship ${String(a)}, ${tokens(d)} needed`,
      ]
    case 'WasKicked':
      return ['KICKED', `operator ${lower(b)} was kicked from sponsorship ${String(a)} and may not stake on it again`]
    case 'TooManySponsorships':
      return ['INVALID_ARGUMENT', `operator ${lower(a)} is staked on the most sponsorships allowed (${String(b)})`]
    case 'ERC20InsufficientBalance':
      return ['INSUFFICIENT_FUNDS', `${lower(a)} has ${tokens(b)}, ${tokens(c)} needed`]
    case 'ERC20InsufficientAllowance':
      return ['INSUFFICIENT_FUNDS', `${lower(a)} may spend ${tokens(b)} of the sender's tokens, ${tokens(c)} needed`]
    case 'SelfDelegationTooLow':
      return [
        'SELF_DELEGATION_TOO_LOW',
        `the operator's owner must hold at least ${Number(c) / 100}% of its shares for others to delegate (holds ${String(a)} of ${String(b)})`,
      ]
    case 'UndelegationQueueNotEmpty':
      return [
        'UNDELEGATION_QUEUE_NOT_EMPTY',
        `${String(a)} undelegations wait for payout; pay them before staking more`,
      ]
    case 'QueueNotOverdue':
      return ['INVALID_ARGUMENT', 'no undelegation has waited past the queue limit']
    case 'InsufficientShares':
      return ['INSUFFICIENT_FUNDS', `holds ${String(a)} shares, ${String(b)} asked`]
    case 'NotOwner':
      return ['PERMISSION_DENIED', `${lower(a)} is not this operator's owner`]
    case 'NotOwnerOrNode':
      return ['PERMISSION_DENIED', `${lower(a)} is neither this operator's owner nor one of its nodes`]
    case 'NotNode':
      return ['PERMISSION_DENIED', `${lower(a)} is not one of this operator's nodes`]
    case 'OnlyVoteKick':
    case 'OnlyToken':
      return ['PERMISSION_DENIED', `${name}: ${lower(a)} may not call this`]
    case 'InvalidCut':
      return ['INVALID_ARGUMENT', `an operator's cut is 0..10000 basis points, got ${String(a)}`]
    case 'CutRaisedWhileStaked':
      return [
        'INVALID_ARGUMENT',
        `the cut can rise from ${Number(a) / 100}% to ${Number(b) / 100}% only while the operator is staked nowhere`,
      ]
    case 'TooManyNodes':
      return ['INVALID_ARGUMENT', `an operator has at most ${String(b)} nodes, got ${String(a)}`]
    case 'HeartbeatTooLarge':
      return ['INVALID_ARGUMENT', `a heartbeat is at most ${String(b)} bytes, got ${String(a)}`]
    case 'ZeroAmount':
      return ['INVALID_ARGUMENT', 'the amount must be above zero']
    case 'UnknownAction':
      return ['INVALID_ARGUMENT', `unknown transferAndCall action ${String(a)}`]
    case 'CannotFlagSelf':
      return ['INVALID_ARGUMENT', `operator ${lower(a)} can't flag itself`]
    case 'AlreadyFlagged':
      return [
        'ALREADY_FLAGGED',
        `operator ${lower(b)} is already flagged on sponsorship ${String(a)} (flag ${String(c)})`,
      ]
    case 'NoReviewersAvailable':
      return ['NO_REVIEWERS', `no other staked operator can review a flag on sponsorship ${String(a)}`]
    case 'PickTooEarly':
      return ['INVALID_ARGUMENT', `flag ${String(a)}'s reviewers can be picked from block ${String(b)} on`]
    case 'ReviewersAlreadyPicked':
      return ['FLAG_CLOSED', `flag ${String(a)}'s reviewers are picked already`]
    case 'ReviewersNotPicked':
      return ['INVALID_ARGUMENT', `flag ${String(a)}'s reviewers are not picked yet: call pickReviewers first`]
    case 'FlagNotFound':
      return ['FLAG_NOT_FOUND', `no flag ${String(a)}`]
    case 'FlagNotOpen':
      return ['FLAG_CLOSED', `flag ${String(a)} is closed (${FLAG_STATUS[Number(b)] ?? String(b)})`]
    case 'NotReviewer':
      return ['NOT_REVIEWER', `${lower(b)} is not a reviewer of flag ${String(a)}`]
    case 'AlreadyVoted':
      return ['ALREADY_VOTED', `${lower(b)} has voted on flag ${String(a)} already`]
    case 'VotingEnded':
      return ['VOTING_ENDED', `voting on flag ${String(a)} ended at ${new Date(Number(b) * 1000).toISOString()}`]
    case 'VotingNotEnded':
      return ['VOTING_NOT_ENDED', `voting on flag ${String(a)} runs until ${new Date(Number(b) * 1000).toISOString()}`]
    default:
      return undefined
  }
}

function describeMarket(name: string, args: readonly unknown[]): [ChainErrorCode, string] | undefined {
  const [a, b, c] = args
  switch (name) {
    case 'ProductNotFound':
      return ['PRODUCT_NOT_FOUND', `no product ${String(a)}`]
    case 'ProductNotListed':
      return ['PRODUCT_NOT_LISTED', `product ${String(a)} is delisted: it isn't for sale`]
    case 'NotProductOwner':
      return ['PERMISSION_DENIED', `${lower(b)} doesn't own product ${String(a)}`]
    case 'InvalidProduct':
      return ['INVALID_ARGUMENT', `invalid product: ${String(a)}`]
    case 'NotStreamGranter':
      return [
        'PERMISSION_DENIED',
        `${lower(b)} may not sell ${String(a)}: only a holder of grant on a stream may put it in a product`,
      ]
    case 'MarketplaceNotGranted':
      return [
        'MARKETPLACE_NOT_GRANTED',
        `the marketplace can't give access to ${String(a)}: the stream's owner must grant it the grant permission`,
      ]
    case 'OwnerNotGranter':
      return [
        'PRODUCT_NOT_LISTED',
        `product ${String(a)} can't be sold: its owner ${lower(c)} no longer holds grant on ${String(b)}`,
      ]
    case 'TokenNotAccepted':
      return ['TOKEN_NOT_ACCEPTED', `product ${String(a)} doesn't accept token ${lower(b)}`]
    case 'TokenNotAcceptedByDataUnion':
      return ['TOKEN_NOT_ACCEPTED', `Data Union ${lower(a)} shares revenue in another token than ${lower(b)}`]
    case 'PeriodTooShort':
      return ['INVALID_PERIOD', `${String(a)} s is shorter than the product's minimum of ${String(b)} s`]
    case 'PeriodTooLong':
      return ['INVALID_PERIOD', `${String(a)} s is longer than the most one purchase may add, ${String(b)} s`]
    case 'PriceAboveLimit':
      return [
        'PRICE_ABOVE_LIMIT',
        `the price is ${String(a)} per second, above the ${String(b)} you accepted (it changed, or the limit is wrong)`,
      ]
    case 'CostOverflow':
      return ['INVALID_PERIOD', `${String(b)} s at ${String(a)} per second overflows: buy a shorter period`]
    case 'NotAdmin':
      return ['PERMISSION_DENIED', `${lower(a)} is not this Data Union's admin`]
    case 'NotJoinAgent':
      return ['PERMISSION_DENIED', `${lower(a)} is not a join agent of this Data Union`]
    case 'NotMember':
      return ['NOT_MEMBER', `${lower(a)} has never been a member of this Data Union`]
    case 'NotActiveMember':
      return ['NOT_MEMBER', `${lower(a)} is not an active member of this Data Union`]
    case 'AlreadyMember':
      return ['ALREADY_MEMBER', `${lower(a)} is already an active member`]
    case 'InvalidWeight':
      return ['INVALID_ARGUMENT', `a member's weight is 1..2^96-1, got ${String(a)}`]
    case 'InvalidFee':
      return ['INVALID_ARGUMENT', `the admin fee is 0..${String(b)} basis points, got ${String(a)}`]
    case 'InvalidAddress':
      return ['INVALID_ARGUMENT', 'the zero address is not allowed here']
    case 'InvalidAmount':
      return ['INVALID_ARGUMENT', `the amount must be above zero, got ${String(a)}`]
    case 'InvalidMemberBatch':
      return ['INVALID_ARGUMENT', `a member batch has 1..${String(b)} entries (and a weight each), got ${String(a)}`]
    case 'InsufficientEarnings':
      return ['INSUFFICIENT_EARNINGS', `${lower(a)} may withdraw ${String(c)}, ${String(b)} asked`]
    case 'InvalidSignature':
      return ['INVALID_SIGNATURE', `the withdrawal isn't signed by member ${lower(a)} (or was used already)`]
    case 'SignatureExpired':
      return ['SIGNATURE_EXPIRED', `the signature expired at ${new Date(Number(a) * 1000).toISOString()}`]
    case 'UnsupportedToken':
      return ['TOKEN_NOT_ACCEPTED', `this Data Union can't pay out token ${lower(a)}: send it its own token`]
    default:
      return undefined
  }
}

function lower(value: unknown): string {
  return String(value).toLowerCase()
}
