import { RunnelRegistry } from '@runnel/chain'
import { NetworkNode, WebSocketClientTransport, type Transport } from '@runnel/network'
import {
  createPureSigner,
  generatePrivateKey,
  type Clock,
  type MessageSigner,
  type SignatureVerifier,
} from '@runnel/protocol'
import {
  createPublicClient,
  createWalletClient,
  custom,
  http,
  type Address,
  type EIP1193Provider,
  type PublicClient,
} from 'viem'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'
import { ClientError } from '../errors.js'
import { LOCAL_DEFAULTS, type RunnelClientComponents, type RunnelClientOptions } from '../options.js'

/** Who the client is: its address, the signer of its messages, and the account of its chain transactions. */
export interface ClientAuth {
  readonly address: Address
  readonly signer: MessageSigner
  readonly account: PrivateKeyAccount
}

/** The key of `options.auth` (a new one when omitted), and the signer: the component's if given, checked to match. */
export function resolveAuth(options: RunnelClientOptions, components: RunnelClientComponents): ClientAuth {
  const privateKey = options.auth?.privateKey ?? generatePrivateKey()
  const account = privateKeyToAccount(privateKey as `0x${string}`)
  const signer = components.signer ?? createPureSigner(privateKey)
  if (components.signer !== undefined && components.signer.address !== account.address.toLowerCase()) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      `the signer's address ${components.signer.address} isn't that of auth.privateKey`,
    )
  }
  return { address: account.address, signer, account }
}

/** The chain bindings: the injected registry, or one over `chain.provider` (else `chain.rpcUrl`) signing as `auth`. */
export function resolveRegistry(
  options: RunnelClientOptions,
  components: RunnelClientComponents,
  auth: ClientAuth,
): RunnelRegistry {
  if (components.registry !== undefined) return components.registry
  const chain = options.chain ?? {}
  const provider = components.provider ?? chain.provider
  const transport =
    provider !== undefined ? custom(provider as EIP1193Provider) : http(chain.rpcUrl ?? LOCAL_DEFAULTS.rpcUrl)
  const publicClient = createPublicClient({ transport, pollingInterval: 250 }) as PublicClient
  const walletClient = createWalletClient({ transport, account: auth.account })
  return new RunnelRegistry(
    { publicClient, walletClient, addresses: chain.contracts ?? LOCAL_DEFAULTS.contracts },
    { fromBlock: chain.fromBlock ?? 0n },
  )
}

/** The network node: the injected one, or one over the given transport (else the browser's WebSocket: a light node). */
export function resolveNetworkNode(
  options: RunnelClientOptions,
  components: RunnelClientComponents,
  signer: MessageSigner,
  verifier: SignatureVerifier,
  clock: Clock,
): NetworkNode {
  if (components.networkNode !== undefined) return components.networkNode
  const { transport: optionsTransport, trackers, ...networkOptions } = options.network ?? {}
  const transport = components.transport ?? optionsTransport
  return new NetworkNode(
    { transport: transport ?? defaultTransport(), signer, verifier, clock },
    {
      // Without a transport of its own the client can only dial out (browsers): a light node then.
      kind: transport === undefined ? 'light' : 'full',
      ...networkOptions,
      trackers: trackers ?? LOCAL_DEFAULTS.trackers,
    },
  )
}

/** The browser's WebSocket. Node.js 20 has none: use `createRunnelClient` from `@runnel/client/node` there. */
function defaultTransport(): Transport {
  return new WebSocketClientTransport()
}
