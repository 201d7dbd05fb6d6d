import type { ApiGateway } from '../../api/ApiGateway.js'
import type { WebSocketPluginConfig } from '../../config.js'
import type { ApiPlugin } from '../ApiPlugin.js'

/** The WebSocket API (being written). */
export class WebSocketPlugin implements ApiPlugin {
  readonly name = 'websocket'
  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: WebSocketPluginConfig,
  ) {}
  start(): Promise<string> {
    return Promise.reject(new Error(`not yet: ${this.config.port} ${String(this.gateway.maxPayloadBytes)}`))
  }
  stop(): Promise<void> {
    return Promise.resolve()
  }
}
