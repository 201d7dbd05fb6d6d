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
 * they are; {@link exitCodeFor} maps every one of them to an exit code.
 *
 * @example
 * ```ts
 * throw new CliError('INVALID_SETTINGS', 'rpcUrl from RUNNEL_RPC_URL: expected an http:// or https:// URL')
 * ```
 */
export class CliError extends Error {
  override readonly name = 'CliError'
  readonly code: CliErrorCode

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
  }
}
