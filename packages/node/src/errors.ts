import {
  RunnelError,
  errorCategoryOf,
  shortMessageOf,
  walkCauses,
  type ErrorCategory,
  type RunnelErrorOptions,
} from '@runnel/protocol'

/** Every way the node daemon refuses something. Codes are stable. */
export type NodeErrorCode =
  /** The config file or object is invalid; the message names the key. */
  | 'INVALID_CONFIG'
  /** A request to one of the APIs is malformed (bad JSON, bad partition, bad query parameter). */
  | 'BAD_REQUEST'
  /** No API key, or a wrong one, on a node that requires keys. */
  | 'UNAUTHORIZED'
  /** The node's address lacks the permission the request needs. */
  | 'PERMISSION_DENIED'
  | 'STREAM_NOT_FOUND'
  /** A payload above the configured limit. */
  | 'PAYLOAD_TOO_LARGE'
  /** Too many requests from one sender (key custody's share requests and deposits); try again in a minute. */
  | 'RATE_LIMITED'
  /** A storage backend query or commit failed (the cause is kept). */
  | 'STORAGE_FAILED'
  /** The storage database can't be opened or reached, was written by a newer version, or is closed. */
  | 'STORAGE_UNAVAILABLE'
  /**
   * A publish asked for `ack=stored`, and not enough storage nodes confirmed it in time. It was published and stays
   * queued for re-offer, so it may still be stored: retry with the same content only if duplicates are acceptable.
   */
  | 'NOT_STORED'
  /** A port could not be bound, or the node failed while starting. */
  | 'START_FAILED'
  /** Something below (the chain's JSON-RPC endpoint, a tracker, the network) can't be reached: retry later. */
  | 'UNAVAILABLE'
  /** Something below didn't answer in time; the outcome is unknown. */
  | 'TIMEOUT'
  /**
   * The node is saturated (too many publishes waiting, or too much unsent to subscribers): the message was not
   * published; retry after `Retry-After` (see docs/node.md, "Fan-out, shedding and pushback").
   */
  | 'OVERLOADED'
  /** Something other than a stream (a storage node, a record) doesn't exist. */
  | 'NOT_FOUND'
  /** The request conflicts with the current state (it exists already, or isn't assigned). */
  | 'CONFLICT'
  /** Anything else: a bug, or a failure below (chain, network). The message says which. */
  | 'INTERNAL'

/**
 * Errors of `@runnel/node`.
 *
 * @example
 * ```ts
 * try {
 *   parseConfig(JSON.parse(text))
 * } catch (err) {
 *   if (err instanceof NodeError && err.code === 'INVALID_CONFIG') console.error(err.message) // names the bad key
 * }
 * ```
 */
export class NodeError extends RunnelError<NodeErrorCode> {
  override readonly name: string = 'NodeError'

  constructor(code: NodeErrorCode, message: string, options?: RunnelErrorOptions) {
    super(code, message, NODE_CATEGORIES[code], options)
  }
}

/**
 * Each code's category, which decides its HTTP status (`ERROR_CATEGORIES`). `START_FAILED` and `INTERNAL` wrap a
 * failure below and are 'internal' themselves: `errorCategoryOf` judges them by their cause. Typed complete, so a new
 * code fails to compile until it is classified.
 */
const NODE_CATEGORIES: Record<NodeErrorCode, ErrorCategory> = {
  INVALID_CONFIG: 'invalid-input',
  BAD_REQUEST: 'invalid-input',
  UNAUTHORIZED: 'unauthenticated',
  PERMISSION_DENIED: 'permission-denied',
  STREAM_NOT_FOUND: 'not-found',
  PAYLOAD_TOO_LARGE: 'too-large',
  RATE_LIMITED: 'rate-limited',
  STORAGE_FAILED: 'internal',
  STORAGE_UNAVAILABLE: 'unavailable',
  NOT_STORED: 'timeout',
  START_FAILED: 'internal',
  UNAVAILABLE: 'unavailable',
  TIMEOUT: 'timeout',
  OVERLOADED: 'unavailable',
  NOT_FOUND: 'not-found',
  CONFLICT: 'conflict',
  INTERNAL: 'internal',
}

/** Every code an API can answer with (`INVALID_CONFIG` and `START_FAILED` are thrown at start, never sent). */
export const API_ERROR_CODES = Object.freeze(
  (Object.keys(NODE_CATEGORIES) as NodeErrorCode[]).filter(
    (code) => code !== 'INVALID_CONFIG' && code !== 'START_FAILED',
  ),
)

/**
 * The API code for a failure of a category no node code of the failing layer's name covers. A cancelled call or data
 * that doesn't verify is, to an API client, the node failing: `INTERNAL`, as the CLI exits 1 for all three.
 */
const CODE_BY_CATEGORY: Record<ErrorCategory, NodeErrorCode> = {
  'invalid-input': 'BAD_REQUEST',
  unauthenticated: 'UNAUTHORIZED',
  'permission-denied': 'PERMISSION_DENIED',
  'not-found': 'NOT_FOUND',
  conflict: 'CONFLICT',
  'too-large': 'PAYLOAD_TOO_LARGE',
  'rate-limited': 'RATE_LIMITED',
  unavailable: 'UNAVAILABLE',
  timeout: 'TIMEOUT',
  cancelled: 'INTERNAL',
  integrity: 'INTERNAL',
  internal: 'INTERNAL',
}

/** The category a node code stands for. */
export function nodeErrorCategory(code: NodeErrorCode): ErrorCategory {
  return NODE_CATEGORIES[code]
}

function isNodeErrorCode(code: unknown): code is NodeErrorCode {
  return typeof code === 'string' && Object.hasOwn(NODE_CATEGORIES, code)
}

/**
 * The node code that reports any error: its category decides (see `errorCategoryOf`, which judges a wrapper by its
 * cause), and the code of the error that gave the category is kept when the node has one of that name and category
 * (a client's `STREAM_NOT_FOUND` or `NOT_STORED` stays itself; a chain's `RPC_ERROR` is `UNAVAILABLE`).
 *
 * @example
 * ```ts
 * nodeErrorCodeOf(new ChainError('RPC_ERROR', 'HTTP request failed')) // 'UNAVAILABLE'
 * ```
 */
export function nodeErrorCodeOf(err: unknown): NodeErrorCode {
  const category = errorCategoryOf(err)
  const decisive = walkCauses(err, (link) => link instanceof RunnelError && link.category === category)
  if (
    decisive instanceof RunnelError &&
    isNodeErrorCode(decisive.code) &&
    NODE_CATEGORIES[decisive.code] === category
  ) {
    return decisive.code
  }
  // A storage backend that can't be reached (a refused PostgreSQL connection under STORAGE_FAILED) is the storage's own
  // unavailability, which has its own code.
  if (category === 'unavailable' && walkCauses(err, isStorageFailure) !== undefined) return 'STORAGE_UNAVAILABLE'
  return CODE_BY_CATEGORY[category]
}

function isStorageFailure(link: unknown): boolean {
  return link instanceof NodeError && link.code === 'STORAGE_FAILED'
}

/**
 * A batch that failed partway: `published` messages went out, the next one
 * failed with `cause`, and the rest were not tried. Its code is the one that
 * reports the cause (see {@link nodeErrorCodeOf}).
 */
export class BatchPublishError extends NodeError {
  override readonly name = 'BatchPublishError'

  constructor(
    readonly published: number,
    readonly total: number,
    cause: unknown,
  ) {
    super(
      nodeErrorCodeOf(cause),
      `message ${published + 1} of ${total} failed (${shortMessageOf(cause)}); the ${published} before it were published`,
      { cause },
    )
  }
}
