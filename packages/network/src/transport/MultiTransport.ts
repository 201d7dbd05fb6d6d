import { NetworkError } from '../errors.js'
import type { Transport, TransportConnection } from './Transport.js'
import { isSignallingTransport, type Signaller, type SignallingTransport } from './webrtc/signalling.js'

/**
 * Several transports as one: `start` starts each in order and returns all
 * their addresses in that order (put the WebSocket transport first, so its
 * `ws://` address comes before `webrtc:`), and `connect` uses the first
 * transport that can dial the address.
 *
 * @example
 * ```ts
 * const transport = new MultiTransport([new WebSocketTransport({ port: 0 }), createNodeWebRtcTransport()])
 * await transport.start(accept) // ['ws://127.0.0.1:41234', 'webrtc:0x…']
 * ```
 */
export class MultiTransport implements SignallingTransport {
  constructor(readonly transports: readonly Transport[]) {
    if (transports.length === 0)
      throw new NetworkError('INVALID_OPTIONS', 'MultiTransport needs at least one transport')
  }

  attachSignaller(signaller: Signaller): void {
    for (const transport of this.transports) if (isSignallingTransport(transport)) transport.attachSignaller(signaller)
  }

  canDial(address: string): boolean {
    return this.transports.some((transport) => canDial(transport, address))
  }

  async start(onConnection: (connection: TransportConnection) => void): Promise<string[]> {
    const addresses: string[] = []
    const started: Transport[] = []
    try {
      for (const transport of this.transports) {
        addresses.push(...(await transport.start(onConnection)))
        started.push(transport)
      }
    } catch (err) {
      await Promise.all(started.map((transport) => transport.stop()))
      throw err
    }
    return addresses
  }

  connect(address: string, signal?: AbortSignal): Promise<TransportConnection> {
    const transport = this.transports.find((candidate) => canDial(candidate, address))
    if (transport === undefined) {
      return Promise.reject(new NetworkError('INVALID_ADDRESS', `no transport here can dial ${address}`))
    }
    return transport.connect(address, signal)
  }

  async stop(): Promise<void> {
    await Promise.all(this.transports.map((transport) => transport.stop()))
  }
}

/** Whether `transport` dials `address`; a transport that doesn't say is taken to dial anything. */
export function canDial(transport: Transport, address: string): boolean {
  return transport.canDial?.(address) ?? true
}

/**
 * The address to dial a node at: the first of its advertised addresses this
 * node's transport can dial. Nodes list `ws://` addresses before `webrtc:`,
 * so a peer with a reachable server is dialled over WebSocket and others
 * over WebRTC.
 *
 * @example
 * ```ts
 * chooseDialAddress(transport, ['ws://10.0.0.2:30301', 'webrtc:0x…']) // 'ws://10.0.0.2:30301'
 * ```
 */
export function chooseDialAddress(transport: Transport, addresses: readonly string[]): string | undefined {
  return addresses.find((address) => canDial(transport, address))
}
