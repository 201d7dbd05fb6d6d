import {
  createErc1271Signer,
  createPureSigner,
  generatePrivateKey,
  parseEthereumAddress,
  type EthereumAddress,
  type MessageSigner,
} from '@runnel/protocol'
import { custom, type Account, type Address, type EIP1193Provider, type Transport } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { ClientError } from '../errors.js'
import { requestAddress, type Eip1193Provider } from './Eip1193.js'
import { createAccountSigner, createProviderSigner } from './signers.js'

/**
 * Who the client is, one of three ways:
 * - `{ privateKey }`: a key the app holds (a new one when `auth` is omitted);
 * - `{ provider, address? }`: an EIP-1193 provider (a browser wallet) signs messages (`personal_sign`) and sends
 *   chain transactions; `address` is asked of it by `RunnelClient.create` when not given;
 * - `{ account }`: a viem account, local (`privateKeyToAccount`) or JSON-RPC (signing through `chain.provider`).
 *
 * Any of them may add `erc1271Wallet`: the client then publishes on behalf of that smart-contract wallet (ERC-1271),
 * whose owner the key, provider or account is: its messages carry the wallet's address as publisher and signature
 * type 2, and subscribers ask the wallet (`isValidSignature`) whether it accepts them. The wallet needs the publish
 * permission; everything else (subscribing, chain writes, the network identity) stays the owner's.
 *
 * @example
 * ```ts
 * const client = createRunnelClient({ auth: { privateKey: ownerKey, erc1271Wallet: '0x…wallet' } })
 * ```
 */
export type AuthOptions = (
  | { readonly privateKey: string }
  | { readonly provider: Eip1193Provider; readonly address?: Address }
  | { readonly account: Account }
) & { readonly erc1271Wallet?: Address }

/** Who the client is: its address, the signer of its messages, and how its chain transactions are signed. */
export interface ClientAuth {
  readonly address: Address
  readonly signer: MessageSigner
  /** The account chain writes are sent as: a local account signs them itself, a JSON-RPC one via `walletTransport`. */
  readonly account: Account
  /** Where chain writes go when the auth brings its own provider (a wallet); else the chain's own transport. */
  readonly walletTransport?: Transport
  /** The ERC-1271 wallet the client publishes for (`signer` is its owner's), if any. */
  readonly erc1271Wallet?: EthereumAddress
}

/**
 * The signer and account of `auth`; `signer` (a component) replaces the signer of a private key when it signs as the
 * same address (the native one on Node.js).
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` for a provider without `address` (use `RunnelClient.create`), or a
 *   `signer` of another address
 */
export function resolveAuth(
  auth: AuthOptions | undefined,
  chainProvider: Eip1193Provider | undefined,
  signer: MessageSigner | undefined,
): ClientAuth {
  const resolved = { ...resolveKind(withKey(auth), chainProvider), ...erc1271WalletOf(auth) }
  if (signer === undefined) return resolved
  if (signer.address !== resolved.address.toLowerCase()) {
    throw new ClientError('INVALID_ARGUMENT', `the signer's address ${signer.address} isn't that of auth`)
  }
  return { ...resolved, signer }
}

function erc1271WalletOf(auth: AuthOptions | undefined): { erc1271Wallet?: EthereumAddress } {
  if (auth?.erc1271Wallet === undefined) return {}
  try {
    return { erc1271Wallet: parseEthereumAddress(auth.erc1271Wallet) }
  } catch (err) {
    throw new ClientError('INVALID_ARGUMENT', `auth.erc1271Wallet: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * What the client's messages are signed with: its own signer, or for an `erc1271Wallet` the owner's signatures
 * standing for the wallet (signature type 2).
 */
export function publishingSigner(auth: ClientAuth): MessageSigner {
  return auth.erc1271Wallet === undefined ? auth.signer : createErc1271Signer(auth.erc1271Wallet, auth.signer)
}

/** `auth` as given, or a new random key when it names none (omitted, or `{ privateKey: undefined }`). */
export function withKey(auth: AuthOptions | undefined): AuthOptions {
  if (auth === undefined || ('privateKey' in auth && (auth.privateKey as string | undefined) === undefined)) {
    return {
      privateKey: generatePrivateKey(),
      ...(auth?.erc1271Wallet !== undefined && { erc1271Wallet: auth.erc1271Wallet }),
    }
  }
  return auth
}

function resolveKind(auth: AuthOptions, chainProvider: Eip1193Provider | undefined): ClientAuth {
  if ('privateKey' in auth) {
    const account = privateKeyToAccount(auth.privateKey as `0x${string}`)
    return { address: account.address, signer: createPureSigner(auth.privateKey), account }
  }
  if ('account' in auth) {
    const { account } = auth
    return { address: account.address, signer: createAccountSigner(account, chainProvider), account }
  }
  if (auth.address === undefined) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      'auth.provider without auth.address: create the client with `await RunnelClient.create(options)`, which asks the provider for it',
    )
  }
  return {
    address: auth.address,
    signer: createProviderSigner(auth.provider, auth.address),
    account: { address: auth.address, type: 'json-rpc' },
    walletTransport: custom(auth.provider as EIP1193Provider),
  }
}

/**
 * `auth` with the address of a provider filled in (asked with `eth_requestAccounts`, else `eth_accounts`); other
 * kinds as they are.
 *
 * @example
 * ```ts
 * const client = new RunnelClient({ ...options, auth: await resolveAuthAddress({ provider: window.ethereum }) })
 * ```
 */
export async function resolveAuthAddress(auth: AuthOptions | undefined): Promise<AuthOptions | undefined> {
  if (auth === undefined || !('provider' in auth) || auth.address !== undefined) return auth
  return { ...auth, provider: auth.provider, address: await requestAddress(auth.provider) }
}
