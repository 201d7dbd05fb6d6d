import { ClientError } from '../errors.js'

/**
 * What the client needs of an EIP-1193 provider (a browser wallet's `window.ethereum`, a WalletConnect provider,
 * a node's JSON-RPC wrapped as `{ request }`): one `request` method.
 */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown }): Promise<unknown>
}

/** JSON-RPC and EIP-1193 codes for "this provider doesn't have that method". */
const UNSUPPORTED_CODES = new Set([4200, -32601, -32604])

/**
 * The address a provider signs as: the first account of `eth_requestAccounts` (a browser wallet asks its user to
 * connect), or of `eth_accounts` where the provider has no such method (a node with unlocked accounts).
 *
 * @throws {@link ClientError} `PERMISSION_DENIED` when the user refused to connect (EIP-1193 code 4001),
 *   `INVALID_ARGUMENT` when the provider has no account
 * @example
 * ```ts
 * const address = await requestAddress(window.ethereum)
 * ```
 */
export async function requestAddress(provider: Eip1193Provider): Promise<`0x${string}`> {
  let accounts: unknown
  try {
    accounts = await provider.request({ method: 'eth_requestAccounts' })
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 4001) throw new ClientError('PERMISSION_DENIED', 'the wallet user refused to connect', { cause: err })
    if (!UNSUPPORTED_CODES.has(code as number) && !/not (supported|found|exist)/i.test(String(err))) throw err
    accounts = await provider.request({ method: 'eth_accounts' })
  }
  const first = Array.isArray(accounts) ? (accounts[0] as unknown) : undefined
  if (typeof first !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(first)) {
    throw new ClientError('INVALID_ARGUMENT', 'the provider has no account to sign with (eth_accounts is empty)')
  }
  return first as `0x${string}`
}
