import { BaseError, ContractFunctionRevertedError, InvalidAddressError } from 'viem'
import { ChainError, type ChainErrorCode } from './errors.js'
import { PERMISSION_NAMES } from './permissions.js'

const VERB: Record<string, string> = {
  edit: 'edit',
  delete: 'delete',
  publish: 'publish to',
  subscribe: 'subscribe to',
  grant: 'grant on',
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
      return ['RPC_ERROR', `contract reverted with ${name}(${args.map(String).join(', ')})`]
  }
}

function lower(value: unknown): string {
  return String(value).toLowerCase()
}
