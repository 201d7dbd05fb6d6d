import { parseEthereumAddress, type MessageSigner } from '@runnel/protocol'
import { bytesToHex, type Account, type Address } from 'viem'
import { ClientError } from '../errors.js'
import type { Eip1193Provider } from './Eip1193.js'
import { toMessageSignature } from './signatures.js'

/**
 * A signer that asks an EIP-1193 provider for each signature (`personal_sign`): a browser wallet, which may ask its
 * user every time, so publish from a wallet only at a human's pace, or from a key of the app's own granted publish
 * permission.
 *
 * @example
 * ```ts
 * const signer = createProviderSigner(window.ethereum, await requestAddress(window.ethereum))
 * ```
 */
export function createProviderSigner(provider: Eip1193Provider, address: Address): MessageSigner {
  return {
    address: parseEthereumAddress(address),
    async signPersonalMessage(payload: Uint8Array): Promise<Uint8Array> {
      // personal_sign takes the data first and the account second (MetaMask's order; eth_sign is the other way).
      return toMessageSignature(
        await provider.request({ method: 'personal_sign', params: [bytesToHex(payload), address] }),
      )
    },
  }
}

/**
 * A signer for a viem account: a local one (`privateKeyToAccount`, `mnemonicToAccount`, `toAccount`) signs itself;
 * a JSON-RPC one (`{ address, type: 'json-rpc' }`) signs through `provider`.
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` for a JSON-RPC account without a provider, or an account that
 *   can't sign messages
 * @example
 * ```ts
 * const signer = createAccountSigner(privateKeyToAccount(privateKey))
 * ```
 */
export function createAccountSigner(account: Account, provider?: Eip1193Provider): MessageSigner {
  if (account.type === 'json-rpc') {
    if (provider === undefined) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `the JSON-RPC account ${account.address} signs through a provider: give chain.provider`,
      )
    }
    return createProviderSigner(provider, account.address)
  }
  const signMessage = account.signMessage as typeof account.signMessage | undefined
  if (signMessage === undefined) {
    throw new ClientError('INVALID_ARGUMENT', `the account ${account.address} can't sign messages (no signMessage)`)
  }
  return {
    address: parseEthereumAddress(account.address),
    async signPersonalMessage(payload: Uint8Array): Promise<Uint8Array> {
      return toMessageSignature(await signMessage({ message: { raw: payload } }))
    },
  }
}
