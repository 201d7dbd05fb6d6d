import type { ApiGateway } from '../../api/ApiGateway.js'
import type { MqttPluginConfig } from '../../config.js'
import type { ApiPlugin } from '../ApiPlugin.js'

/** The MQTT API (being written). */
export class MqttPlugin implements ApiPlugin {
  readonly name = 'mqtt'
  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: MqttPluginConfig,
  ) {}
  start(): Promise<string> {
    return Promise.reject(new Error(`not yet: ${this.config.port} ${String(this.gateway.maxPayloadBytes)}`))
  }
  stop(): Promise<void> {
    return Promise.resolve()
  }
}
