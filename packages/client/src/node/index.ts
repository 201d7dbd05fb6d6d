/**
 * `@runnel/client/node`: the client for Node.js, with a listening WebSocket
 * transport (full nodes), WebRTC beside it when `network.webrtc` is set (node-datachannel), and native secp256k1.
 *
 * @example
 * ```ts
 * import { createRunnelClient } from '@runnel/client/node'
 * const client = createRunnelClient({ auth: { privateKey } }) // defaults: the local network of `npm start`
 * ```
 * @packageDocumentation
 */
import { MultiTransport } from '@runnel/network'
import { createNodeWebRtcTransport, WebSocketTransport } from '@runnel/network/node'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { resolveAuthAddress, withKey } from '../auth/resolveAuth.js'
import { RunnelClient, type RunnelClientComponents, type RunnelClientOptions } from '../RunnelClient.js'

export interface NodeClientOptions extends RunnelClientOptions {
  /** Full nodes listen for neighbours here (default: any free port on 127.0.0.1). */
  readonly listen?: { readonly host?: string; readonly port?: number }
}

/** A RunnelClient wired for Node.js. */
export function createRunnelClient(
  options: NodeClientOptions = {},
  components: Pick<RunnelClientComponents, 'keyStore'> = {},
): RunnelClient {
  const light = options.network?.kind === 'light'
  const webSocket = new WebSocketTransport(
    light ? {} : { host: options.listen?.host ?? '127.0.0.1', port: options.listen?.port ?? 0 },
  )
  const webrtc = options.network?.webrtc
  // WebRTC only when asked for: a node others reach over WebSocket needs no ICE sessions of its own.
  const transport =
    options.network?.transport ??
    (webrtc === undefined ? webSocket : new MultiTransport([webSocket, createNodeWebRtcTransport(webrtc)]))
  // A key held here signs natively; a wallet or an account signs itself.
  const auth = withKey(options.auth)
  const signer = 'privateKey' in auth ? createNativeSigner(auth.privateKey) : undefined
  return new RunnelClient(
    { ...options, auth, network: { ...options.network, transport } },
    { ...(signer !== undefined && { signer }), verifier: nativeSignatureVerifier, ...components },
  )
}

/**
 * {@link createRunnelClient} for an `auth.provider` whose address isn't known yet: asks the provider first (see
 * `RunnelClient.create`).
 *
 * @example
 * ```ts
 * const client = await createRunnelClientAsync({ auth: { provider: devChain.provider } })
 * ```
 */
export async function createRunnelClientAsync(
  options: NodeClientOptions = {},
  components: Pick<RunnelClientComponents, 'keyStore'> = {},
): Promise<RunnelClient> {
  return createRunnelClient({ ...options, auth: await resolveAuthAddress(options.auth) }, components)
}

export { RunnelClient }
export { FileKeyStore } from './FileKeyStore.js'
