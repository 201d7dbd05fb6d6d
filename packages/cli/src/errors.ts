import { RunnelError, type ErrorCategory, type RunnelErrorOptions } from '@runnel/protocol'

/** Every way the `runnel` command itself refuses something. Codes are stable. */
export type CliErrorCode =
  /** A setting (flag, environment variable, config or identity file) is malformed; the message names it and its source. */
  | 'INVALID_SETTINGS'
  /** Input the command reads is malformed, e.g. a line of `publish`'s stdin that isn't JSON. */
  | 'INVALID_INPUT'
  /** The command needs a private key and none is configured. */
  | 'NO_IDENTITY'
  /** `identity create` would overwrite an identity file (pass `--force`). */
  | 'IDENTITY_EXISTS'

/**
 * Errors of `@runnel/cli`. Errors of the layers below (`ClientError`,
 * `ChainError`, `NetworkError`, `ProtocolError`, `NodeError`) pass through as
 * they are; {@link exitCodeFor} maps every one of them to an exit code by its
 * category.
 *
 * Unlike the rest of the family, its `message` is its `shortMessage`, without
 * the code: these are addressed to the person at the terminal (`runnel: line 2
 * is not valid JSON: …`), and say themselves what to fix.
 *
 * @example
 * ```ts
 * throw new CliError('INVALID_SETTINGS', 'rpcUrl from RUNNEL_RPC_URL: expected an http:// or https:// URL')
 * ```
 */
export class CliError extends RunnelError<CliErrorCode> {
  override readonly name = 'CliError'

  constructor(code: CliErrorCode, message: string, options?: RunnelErrorOptions) {
    super(code, message, CLI_CATEGORIES[code], options)
    this.message = options?.details === undefined ? message : `${message}\n${options.details}`
  }
}

/** Typed complete, so a new code fails to compile until it is classified. */
const CLI_CATEGORIES: Record<CliErrorCode, ErrorCategory> = {
  INVALID_SETTINGS: 'invalid-input',
  INVALID_INPUT: 'invalid-input',
  // A key to configure, not one that was refused.
  NO_IDENTITY: 'invalid-input',
  IDENTITY_EXISTS: 'conflict',
}
