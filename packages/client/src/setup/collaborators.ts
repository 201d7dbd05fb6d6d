import { Erc1271Verifier, RunnelIncentives, RunnelMarket, RunnelRegistry } from '@runnel/chain'
import {
  MultiTransport,
  NetworkNode,
  WebSocketClientTransport,
  createBrowserWebRtcTransport,
  type Transport,
  type WebRtcTransportOptions,
} from '@runnel/network'
import type { Clock, MessageSigner, SignatureVerifier } from '@runnel/protocol'
import {
  createPublicClient,
  createWalletClient,
  custom,
  http,
  type EIP1193Provider,
  type Transport as ViemTransport,
} from 'viem'
import { resolveAuth, type ClientAuth } from '../auth/resolveAuth.js'
import { ClientError } from '../errors.js'
import { LOCAL_DEFAULTS, type RunnelClientComponents, type RunnelClientOptions } from '../options.js'
import { resolveDiscovery } from './discovery.js'

export type { ClientAuth }

/** Who the client is (see {@link AuthOptions}); the `signer` component, if given, must sign as the same address. */
export function resolveClientAuth(options: RunnelClientOptions, components: RunnelClientComponents): ClientAuth {
  return resolveAuth(options.auth, components.provider ?? options.chain?.provider, components.signer)
}

/** The chain bindings: the injected registry, or one over `chain.provider` (else `chain.rpcUrl`) signing as `auth`. */
export function resolveRegistry(
  options: RunnelClientOptions,
  components: RunnelClientComponents,
  auth: ClientAuth,
): RunnelRegistry {
  if (components.registry !== undefined) return components.registry
  const chain = options.chain ?? {}
  return new RunnelRegistry(
    { ...chainClients(options, components, auth), addresses: chain.contracts ?? LOCAL_DEFAULTS.contracts },
    { fromBlock: chain.fromBlock ?? 0n },
  )
}

/** The incentive bindings: the injected ones, or ones over the registry's chain, signing as `auth`. */
export function resolveIncentives(
  options: RunnelClientOptions,
  components: RunnelClientComponents,
  auth: ClientAuth,
): RunnelIncentives {
  if (components.incentives !== undefined) return components.incentives
  return new RunnelIncentives({
    ...chainClients(options, components, auth),
    addresses: options.chain?.incentives ?? LOCAL_DEFAULTS.incentives,
  })
}

/** The marketplace and Data Union bindings: the injected ones, or ones over the registry's chain, signing as `auth`. */
export function resolveMarket(
  options: RunnelClientOptions,
  components: RunnelClientComponents,
  auth: ClientAuth,
): RunnelMarket {
  if (components.market !== undefined) return components.market
  return new RunnelMarket({
    ...chainClients(options, components, auth),
    addresses: options.chain?.market ?? LOCAL_DEFAULTS.market,
    registry: (options.chain?.contracts ?? LOCAL_DEFAULTS.contracts).streamRegistry,
    token: (options.chain?.incentives ?? LOCAL_DEFAULTS.incentives).token,
  })
}

function chainClients(options: RunnelClientOptions, components: RunnelClientComponents, auth: ClientAuth) {
  const transport = chainTransport(options, components)
  const publicClient = createPublicClient({ transport, pollingInterval: 250 })
  const walletClient = createWalletClient({ transport: auth.walletTransport ?? transport, account: auth.account })
  return { publicClient, walletClient }
}

/** Where chain reads go: the `provider` component, else `chain.provider`, else `chain.rpcUrl` (or the auth's wallet). */
function chainTransport(options: RunnelClientOptions, components: RunnelClientComponents): ViemTransport {
  const chain = options.chain ?? {}
  // A wallet given as auth serves the reads too unless the chain has a provider or URL of its own.
  const walletProvider = options.auth !== undefined && 'provider' in options.auth ? options.auth.provider : undefined
  const provider = components.provider ?? chain.provider ?? (chain.rpcUrl === undefined ? walletProvider : undefined)
  return provider !== undefined ? custom(provider as EIP1193Provider) : http(chain.rpcUrl ?? LOCAL_DEFAULTS.rpcUrl)
}

/**
 * What asks ERC-1271 wallets about their publishers' signatures (cached 60 s): the injected one, or one reading the
 * chain the registry reads.
 */
export function resolveErc1271Verifier(
  options: RunnelClientOptions,
  components: RunnelClientComponents,
): Erc1271Verifier {
  if (components.erc1271Verifier !== undefined) return components.erc1271Verifier
  return new Erc1271Verifier(createPublicClient({ transport: chainTransport(options, components) }))
}

/**
 * The network node: the injected one, or one over the given transport (else the browser's WebSocket: a light node),
 * discovering peers as {@link resolveDiscovery} decides.
 */
export function resolveNetworkNode(
  options: RunnelClientOptions,
  components: RunnelClientComponents,
  signer: MessageSigner,
  verifier: SignatureVerifier,
  clock: Clock,
): NetworkNode {
  if (components.networkNode !== undefined) return components.networkNode
  const { transport: optionsTransport, webrtc, ...networkOptions } = options.network ?? {}
  const transport = components.transport ?? optionsTransport
  // Without a transport of its own (browsers) the client is a light node unless it asks to be a full one.
  const kind = networkOptions.kind ?? (transport === undefined ? 'light' : 'full')
  return new NetworkNode(
    { transport: transport ?? defaultTransport(kind, webrtc), signer, verifier, clock },
    {
      ...networkOptions,
      kind,
      // Only the list its mode uses (and the mode, always set): the node needn't guess the mode from the lists.
      trackers: undefined,
      entryPoints: undefined,
      ...resolveDiscovery(options.network),
    },
  )
}

/**
 * The browser's WebSocket, which only dials out: a light node's. A full node adds the browser's own WebRTC, so
 * others can reach it (`webrtc:<node id>`) and it can reach nodes that have no server either. Node.js 20 has neither:
 * use `createRunnelClient` from `@runnel/client/node` there.
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` for a full node where there is no `RTCPeerConnection`
 */
function defaultTransport(kind: 'full' | 'light', webrtc: WebRtcTransportOptions | undefined): Transport {
  if (kind === 'light') return new WebSocketClientTransport()
  if ((globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === undefined) {
    throw new ClientError(
      'INVALID_ARGUMENT',
      "network.kind 'full' without a transport needs WebRTC (RTCPeerConnection), which this runtime lacks; in Node.js use createRunnelClient from @runnel/client/node",
    )
  }
  return new MultiTransport([new WebSocketClientTransport(), createBrowserWebRtcTransport(webrtc)])
}
