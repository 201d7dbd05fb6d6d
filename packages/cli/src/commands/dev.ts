import { Option, type Command } from 'commander'
import { createLogger } from '@runnel/node'
import { startDevNetwork, type DevNetwork } from '@runnel/node/dev'

interface DevOptions {
  host: string
  freePorts?: boolean
  rpcPort: string
  trackerPort: string
  wsPort: string
  httpPort: string
  mqttPort: string
  relayNodes: string
  apiKey?: string[]
  json?: boolean
  logLevel: string
}

/** `runnel dev`: the whole local network in one process, until Ctrl-C. */
export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'start a complete local network: embedded chain, tracker, an API node (WebSocket, HTTP, MQTT) and relay nodes',
    )
    .option('--host <host>', 'interface everything listens on', '127.0.0.1')
    .option('--free-ports', 'let the system pick free ports instead of the fixed ones (printed at start)')
    .option('--rpc-port <port>', 'chain JSON-RPC port', '8545')
    .option('--tracker-port <port>', 'tracker port', '30300')
    .option('--ws-port <port>', 'WebSocket API port', '7170')
    .option('--http-port <port>', 'HTTP API port', '7171')
    .option('--mqtt-port <port>', 'MQTT broker port', '1883')
    .option('--relay-nodes <n>', 'full nodes besides the API node', '2')
    .option('--api-key <key...>', 'require this API key on every API')
    .option('--json', 'print the endpoints as one JSON line instead of the guide')
    .addOption(
      new Option('--log-level <level>', 'node log level').choices(['error', 'warn', 'info', 'debug']).default('warn'),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ runnel dev
  $ runnel dev --mqtt-port 1884          # a mosquitto already has 1883
  $ runnel dev --free-ports --json       # for scripts: endpoints as JSON`,
    )
    .action(async (options: DevOptions) => {
      const port = (value: string, name: string): number => {
        const parsed = Number(value)
        if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) {
          throw new Error(`--${name} must be a port number 0–65535, got '${value}'`)
        }
        return options.freePorts === true ? 0 : parsed
      }
      const relayNodes = Number(options.relayNodes)
      if (!Number.isInteger(relayNodes) || relayNodes < 0 || relayNodes > 16) {
        throw new Error(`--relay-nodes must be 0–16, got '${options.relayNodes}'`)
      }
      const dev = await startDevNetwork({
        host: options.host,
        ports: {
          chain: port(options.rpcPort, 'rpc-port'),
          tracker: port(options.trackerPort, 'tracker-port'),
          websocket: port(options.wsPort, 'ws-port'),
          http: port(options.httpPort, 'http-port'),
          mqtt: port(options.mqttPort, 'mqtt-port'),
        },
        relayNodes,
        ...(options.apiKey !== undefined && { apiKeys: options.apiKey }),
        logger: createLogger({ level: options.logLevel as 'warn' }, 'runnel-dev'),
      })
      process.stdout.write(
        options.json === true ? `${JSON.stringify(describe(dev))}\n` : guide(dev, relayNodes, options.apiKey?.[0]),
      )
      await untilSignal()
      process.stderr.write('stopping the dev network…\n')
      await dev.stop()
    })
}

function describe(dev: DevNetwork): Record<string, unknown> {
  return {
    rpcUrl: dev.rpcUrl,
    trackerUrl: dev.trackerUrl,
    endpoints: dev.endpoints,
    devPrivateKey: dev.devPrivateKey,
    devAddress: dev.devAddress,
    demoStreamId: dev.demoStreamId,
  }
}

function guide(dev: DevNetwork, relayNodes: number, apiKey: string | undefined): string {
  const { websocket, http, mqtt } = dev.endpoints
  const stream = dev.demoStreamId
  const encoded = encodeURIComponent(stream)
  const mqttUrl = new URL(mqtt!)
  const mqttArgs = `-h ${mqttUrl.hostname} -p ${mqttUrl.port}${apiKey === undefined ? '' : ` -u runnel -P '${apiKey}'`}`
  const bearer = apiKey === undefined ? '' : ` -H 'authorization: Bearer ${apiKey}'`
  const wsKey = apiKey === undefined ? '' : `?apiKey=${encodeURIComponent(apiKey)}`
  return `
Runnel dev network is running. Ctrl-C stops all of it.

  chain JSON-RPC   ${dev.rpcUrl}   (chain id ${dev.chain.chain.chainId}; contracts at the dev addresses)
  tracker          ${dev.trackerUrl}
  WebSocket API    ${websocket}/streams/<stream id>/subscribe | /publish
  HTTP API         ${http}   (/openapi.json, /metrics, /health)
  MQTT broker      ${mqtt}   (topic = stream id)
  relay nodes      ${relayNodes}
${apiKey === undefined ? '' : `  API key          ${apiKey}\n`}
  dev key          ${dev.devPrivateKey}
                   address ${dev.devAddress}, funded. Hardhat's well-known key: for this dev chain only.
  demo stream      ${stream}   (anyone may publish and subscribe)

Receive, in one terminal (any of these):
  mosquitto_sub ${mqttArgs} -t '${stream}'
  npx runnel subscribe ${stream}
  node -e "new (require('ws'))('${websocket}/streams/${encoded}/subscribe${wsKey}').on('message', (m) => console.log(String(m)))"

Publish, in another:
  mosquitto_pub ${mqttArgs} -t '${stream}' -m '{"hello":"mqtt"}'
  curl -X POST '${http}/streams/${encoded}'${bearer} -H 'content-type: application/json' -d '{"hello":"http"}'
  echo '{"hello":"cli"}' | npx runnel publish ${stream}

From a Node.js app (SDK):
  import { createRunnelClient } from '@runnel/client/node'
  const client = createRunnelClient({ auth: { privateKey: '${dev.devPrivateKey}' } })
  const stream = await client.createStream('/my-stream')
  await client.subscribe('${stream}', (message) => console.log(message.content))
  await client.publish('${stream}', { hello: 'sdk' })

`
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      resolve(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
