import type { ChainErrorCode } from '@runnel/chain'
import type { ClientErrorCode } from '@runnel/client'
import type { NetworkErrorCode } from '@runnel/network'
import type { NodeErrorCode } from '@runnel/node'
import type { ProtocolErrorCode } from '@runnel/protocol'
import type { CliErrorCode } from './errors.js'

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

// One table per error family. Typed as complete records, so a code added below fails to compile here until mapped.
const CLI: Record<CliErrorCode, ExitCode> = {
  INVALID_SETTINGS: EXIT.INVALID_INPUT,
  INVALID_INPUT: EXIT.INVALID_INPUT,
  NO_IDENTITY: EXIT.INVALID_INPUT,
  IDENTITY_EXISTS: EXIT.INVALID_INPUT,
}

const CLIENT: Record<ClientErrorCode, ExitCode> = {
  PERMISSION_DENIED: EXIT.PERMISSION_DENIED,
  STREAM_NOT_FOUND: EXIT.NOT_FOUND,
  INVALID_ARGUMENT: EXIT.INVALID_INPUT,
  DESTROYED: EXIT.UNEXPECTED,
  STORAGE_UNAVAILABLE: EXIT.UNREACHABLE,
  TIMEOUT: EXIT.UNREACHABLE,
  // Published, but not confirmed stored in time: the outcome is unknown, as for an unreachable storage node.
  NOT_STORED: EXIT.UNREACHABLE,
  ENCRYPTION_FAILED: EXIT.UNEXPECTED,
  // Wrong key or altered data: like a signature that doesn't verify.
  DECRYPTION_FAILED: EXIT.UNEXPECTED,
  // The publisher didn't answer the key request (or refused it).
  KEY_UNAVAILABLE: EXIT.UNREACHABLE,
  // A call given up by its caller's signal: cancelled, as DESTROYED.
  ABORTED: EXIT.UNEXPECTED,
}

const CHAIN: Record<ChainErrorCode, ExitCode> = {
  PERMISSION_DENIED: EXIT.PERMISSION_DENIED,
  STREAM_NOT_FOUND: EXIT.NOT_FOUND,
  STREAM_ALREADY_EXISTS: EXIT.INVALID_INPUT,
  INVALID_PATH: EXIT.INVALID_INPUT,
  INVALID_METADATA: EXIT.INVALID_INPUT,
  INVALID_PUBLIC_PERMISSION: EXIT.INVALID_INPUT,
  NODE_NOT_REGISTERED: EXIT.NOT_FOUND,
  INVALID_NODE_METADATA: EXIT.INVALID_INPUT,
  ALREADY_ASSIGNED: EXIT.INVALID_INPUT,
  NOT_ASSIGNED: EXIT.INVALID_INPUT,
  NO_ACCOUNT: EXIT.INVALID_INPUT,
  INVALID_ARGUMENT: EXIT.INVALID_INPUT,
  RPC_ERROR: EXIT.UNREACHABLE,
}

const NETWORK: Record<NetworkErrorCode, ExitCode> = {
  MALFORMED_FRAME: EXIT.UNEXPECTED,
  FRAME_TOO_LARGE: EXIT.UNEXPECTED,
  HANDSHAKE_FAILED: EXIT.UNREACHABLE,
  CONNECTION_FAILED: EXIT.UNREACHABLE,
  CONNECTION_CLOSED: EXIT.UNREACHABLE,
  PEER_FLOODING: EXIT.UNEXPECTED,
  TIMEOUT: EXIT.UNREACHABLE,
  ABORTED: EXIT.UNEXPECTED,
  INVALID_ADDRESS: EXIT.INVALID_INPUT,
  INVALID_STATE: EXIT.UNEXPECTED,
  INVALID_OPTIONS: EXIT.INVALID_INPUT,
  PROXY_REFUSED: EXIT.UNREACHABLE,
  // Two processes with one key: each needs its own, a config problem.
  IDENTITY_IN_USE: EXIT.INVALID_INPUT,
}

const PROTOCOL: Record<ProtocolErrorCode, ExitCode> = {
  INVALID_ADDRESS: EXIT.INVALID_INPUT,
  INVALID_PRIVATE_KEY: EXIT.INVALID_INPUT,
  INVALID_STREAM_ID: EXIT.INVALID_INPUT,
  INVALID_PARTITION: EXIT.INVALID_INPUT,
  INVALID_STREAM_PART_ID: EXIT.INVALID_INPUT,
  INVALID_MESSAGE: EXIT.INVALID_INPUT,
  MALFORMED_BYTES: EXIT.UNEXPECTED,
  UNSUPPORTED_VERSION: EXIT.UNEXPECTED,
  MESSAGE_TOO_LARGE: EXIT.INVALID_INPUT,
  INVALID_SIGNATURE_FORMAT: EXIT.UNEXPECTED,
  SIGNATURE_VERIFICATION_FAILED: EXIT.UNEXPECTED,
  INVALID_JSON: EXIT.INVALID_INPUT,
  INVALID_RECEIPT: EXIT.INVALID_INPUT,
  INVALID_PUBLIC_KEY: EXIT.INVALID_INPUT,
}

/** `START_FAILED` and `INTERNAL` wrap a failure below: their cause decides. */
const NODE: Record<NodeErrorCode, ExitCode | 'cause'> = {
  INVALID_CONFIG: EXIT.INVALID_INPUT,
  BAD_REQUEST: EXIT.INVALID_INPUT,
  UNAUTHORIZED: EXIT.PERMISSION_DENIED,
  PERMISSION_DENIED: EXIT.PERMISSION_DENIED,
  STREAM_NOT_FOUND: EXIT.NOT_FOUND,
  PAYLOAD_TOO_LARGE: EXIT.INVALID_INPUT,
  // Waiting a minute helps, as with a node that can't be reached.
  RATE_LIMITED: EXIT.UNREACHABLE,
  STORAGE_FAILED: EXIT.UNEXPECTED,
  STORAGE_UNAVAILABLE: EXIT.UNREACHABLE,
  NOT_STORED: EXIT.UNREACHABLE,
  START_FAILED: 'cause',
  INTERNAL: 'cause',
}

/** Error families by `err.name`: matched by name so this table doesn't load the packages it describes. */
const FAMILIES: Record<string, Record<string, ExitCode | 'cause'>> = {
  CliError: CLI,
  ClientError: CLIENT,
  ChainError: CHAIN,
  NetworkError: NETWORK,
  ProtocolError: PROTOCOL,
  NodeError: NODE,
}

/** System error codes of a connection that couldn't be made (fetch, sockets, DNS). */
const UNREACHABLE_SYSTEM_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
])

/**
 * The exit code for an error thrown by a command: the one place that maps
 * the typed errors of every layer (by family and code) to exit codes. A
 * wrapper without a code of its own (a node's `START_FAILED`, a bare
 * `fetch failed`) is judged by its cause.
 *
 * @example
 * ```ts
 * exitCodeFor(new ChainError('STREAM_NOT_FOUND', 'no stream 0xabc/x')) // 4
 * ```
 */
export function exitCodeFor(err: unknown): ExitCode {
  for (let current = err, depth = 0; current instanceof Error && depth < 10; depth++) {
    const code = (current as { code?: unknown }).code
    const family = FAMILIES[current.name]
    const mapped = family !== undefined && typeof code === 'string' ? family[code] : undefined
    if (mapped !== undefined && mapped !== 'cause') return mapped
    if (typeof code === 'string' && UNREACHABLE_SYSTEM_CODES.has(code)) return EXIT.UNREACHABLE
    // viem's transport errors, when one escapes untranslated.
    if (current.name === 'HttpRequestError' || current.name === 'TimeoutError') return EXIT.UNREACHABLE
    if (mapped === undefined && family !== undefined) return EXIT.UNEXPECTED
    current = current.cause
  }
  return EXIT.UNEXPECTED
}
