import { ERROR_CATEGORIES, errorCategoryOf } from '@runnel/protocol'

/** The exit codes of `runnel`, which scripts can rely on. */
export const EXIT = {
  OK: 0,
  /** A bug, or a failure nothing below classified. */
  UNEXPECTED: 1,
  /** Bad command line: unknown command or option, missing or malformed argument. */
  USAGE: 2,
  /** Invalid input or config: settings, config files, stdin, metadata, paths. */
  INVALID_INPUT: 3,
  /** The stream (or storage node) doesn't exist. */
  NOT_FOUND: 4,
  /** The key lacks the permission the operation needs. */
  PERMISSION_DENIED: 5,
  /**
   * The chain's JSON-RPC endpoint, a tracker, a peer or a storage node couldn't be reached (or failed); or no
   * storage node stores the stream whose history was asked for.
   */
  UNREACHABLE: 6,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/**
 * The exit code for an error thrown by a command: its category's, from the
 * same table (`ERROR_CATEGORIES` of `@runnel/protocol`) the node's HTTP
 * statuses come from, so a failure that exits 6 here is a 503 or 504 there.
 * A wrapper without a category of its own (a node's `START_FAILED`, a bare
 * `fetch failed`) is judged by its cause (`errorCategoryOf`).
 *
 * @example
 * ```ts
 * exitCodeFor(new ChainError('STREAM_NOT_FOUND', 'no stream 0xabc/x')) // 4
 * ```
 */
export function exitCodeFor(err: unknown): ExitCode {
  return ERROR_CATEGORIES[errorCategoryOf(err)].exitCode as ExitCode
}
