import { InvalidArgumentError, Option, type Command } from 'commander'
// The config module alone: the daemon's entry point loads every plugin.
import { DEFAULT_PORTS } from '@runnel/node/config'
import type { DevNetwork } from '@runnel/node/dev'
import { note, printJson, type CliContext } from '../context.js'
import { listenForShutdown } from '../signals.js'

interface DevOptions {
  host: string
  freePorts?: boolean
  rpcPort: number
  trackerPort: number
  entryPointPort: number
  discovery: 'tracker' | 'dht'
  wsPort: number
  httpPort: number
  mqttPort: number
  storagePort: number
  explorerPort: number
  storage: boolean
  explorer: boolean
  relayNodes: number
  operators: number
  apiKey?: string[]
  json?: boolean
  logLevel: string
}

function portNumber(value: string): number {
  const parsed = Number(value)
  if (!/^\d+$/.test(value) || parsed > 65535) throw new InvalidArgumentError('expected a port number 0–65535')
  return parsed
}

function relayCount(value: string): number {
  const parsed = Number(value)
  if (!/^\d+$/.test(value) || parsed > 16) throw new InvalidArgumentError('expected 0–16')
  return parsed
}

function operatorCount(value: string): number {
  const parsed = Number(value)
  // MAX_DEV_OPERATORS: one dev account each (loading @runnel/node/dev for the constant would load the chain).
  if (!/^\d+$/.test(value) || parsed > 7) throw new InvalidArgumentError('expected 0–7 (one dev account each)')
  return parsed
}

/** `runnel dev`: the whole local network in one process, until Ctrl-C. */
export function registerDevCommand(program: Command, context: CliContext): void {
  program
    .command('dev')
    .description(
      'start a complete local network: embedded chain, tracker (or DHT entry point), an API node (WebSocket, HTTP, MQTT), a storage node and relay nodes',
    )
    .addOption(
      new Option('--discovery <mode>', 'how the nodes find each other: through a tracker, or the DHT (no tracker)')
        .choices(['tracker', 'dht'])
        .default('tracker'),
    )
    .option('--host <host>', 'interface everything listens on', '127.0.0.1')
    .option('--free-ports', 'let the system pick free ports instead of the fixed ones (printed at start)')
    .option('--rpc-port <port>', 'chain JSON-RPC port', portNumber, DEFAULT_PORTS.chain)
    .option('--tracker-port <port>', 'tracker port (tracker mode)', portNumber, DEFAULT_PORTS.tracker)
    .option('--entry-point-port <port>', 'DHT entry point port (dht mode)', portNumber, DEFAULT_PORTS.entryPoint)
    .option('--ws-port <port>', 'WebSocket API port', portNumber, DEFAULT_PORTS.websocket)
    .option('--http-port <port>', 'HTTP API port', portNumber, DEFAULT_PORTS.http)
    .option('--mqtt-port <port>', 'MQTT broker port', portNumber, DEFAULT_PORTS.mqtt)
    .option('--storage-port <port>', 'storage node history API port', portNumber, DEFAULT_PORTS.storage)
    .option('--explorer-port <port>', 'Network Explorer port (a web app)', portNumber, DEFAULT_PORTS.explorer)
    .option('--no-storage', 'run without the storage node')
    .option('--no-explorer', "don't serve the Network Explorer")
    .option('--relay-nodes <n>', 'full nodes besides the API node', relayCount, 2)
    .option(
      '--operators <n>',
      'operator nodes staked on a sponsorship of the demo stream, each from its own dev account, earning RNL',
      operatorCount,
      0,
    )
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
  $ runnel dev --discovery dht           # no tracker: nodes find each other through the DHT
  $ runnel dev --operators 3             # three operators staked on a sponsored demo stream, earning
  $ runnel dev --free-ports --json       # for scripts: endpoints as JSON`,
    )
    .action(async (options: DevOptions) => {
      const port = (value: number): number => (options.freePorts === true ? 0 : value)
      // Loaded here: the embedded chain is heavy, and other commands never need it.
      const [{ startDevNetwork }, { createLogger }] = await Promise.all([
        import('@runnel/node/dev'),
        import('@runnel/node'),
      ])
      const shutdown = listenForShutdown()
      const dev = await startDevNetwork({
        host: options.host,
        ports: {
          chain: port(options.rpcPort),
          tracker: port(options.trackerPort),
          entryPoint: port(options.entryPointPort),
          websocket: port(options.wsPort),
          http: port(options.httpPort),
          mqtt: port(options.mqttPort),
          storage: port(options.storagePort),
          explorer: port(options.explorerPort),
        },
        storage: options.storage,
        explorer: options.explorer,
        discovery: options.discovery,
        relayNodes: options.relayNodes,
        operators: options.operators,
        ...(options.apiKey !== undefined && { apiKeys: options.apiKey }),
        // Logs go to stderr: stdout carries the guide, or the JSON line scripts read.
        logger: createLogger({ level: options.logLevel as 'warn', pretty: false }, 'runnel-dev', 2),
      })
      if (options.json === true) printJson(context, describe(dev))
      else context.stdout.write(guide(dev, options.relayNodes, options.apiKey?.[0]))
      await shutdown.received
      note(context, 'stopping the dev network…')
      await dev.stop()
      note(context, 'stopped')
    })
}

function describe(dev: DevNetwork): Record<string, unknown> {
  return {
    rpcUrl: dev.rpcUrl,
    discovery: dev.discovery,
    trackerUrl: dev.trackerUrl,
    entryPointUrl: dev.entryPointUrl,
    endpoints: dev.endpoints,
    devPrivateKey: dev.devPrivateKey,
    devAddress: dev.devAddress,
    demoStreamId: dev.demoStreamId,
    storageUrl: dev.storageUrl,
    explorerUrl: dev.explorerUrl,
    sponsorshipId: dev.sponsorshipId,
    operators: dev.operators.map((operator) => ({
      address: operator.address,
      owner: operator.owner,
      node: operator.node.address,
    })),
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
  const dht = dev.discovery === 'dht'
  // The CLI and the SDK default to tracker mode: in dht mode they are told (the entry point is their default).
  const cliEnv = dht ? 'RUNNEL_DISCOVERY=dht ' : ''
  const sdkOptions = dht ? `, network: { discovery: 'dht' }` : ''
  return `
Runnel dev network is running. Ctrl-C stops all of it.

  chain JSON-RPC   ${dev.rpcUrl}   (chain id ${dev.chain.chain.chainId}; contracts at the dev addresses)
${dht ? `  DHT entry point  ${dev.entryPointUrl}   (discovery: dht, no tracker)` : `  tracker          ${dev.trackerUrl}`}
  WebSocket API    ${websocket}/streams/<stream id>/subscribe | /publish
  HTTP API         ${http}   (/openapi.json, /metrics, /health)
  MQTT broker      ${mqtt}   (topic = stream id)
  relay nodes      ${relayNodes}
${dev.storageUrl === undefined ? '' : `  storage node     ${dev.storageUrl}   (SQLite; stores the demo stream: /streams/<id>/data/partitions/0/last)\n`}${dev.explorerUrl === undefined ? '' : `  explorer         ${dev.explorerUrl}   (open in a browser: nodes, streams, overlays, live tails)\n`}${apiKey === undefined ? '' : `  API key          ${apiKey}\n`}
  dev key          ${dev.devPrivateKey}
                   address ${dev.devAddress}, funded. Hardhat's well-known key: for this dev chain only.
  demo stream      ${stream}   (anyone may publish and subscribe)
${operatorsGuide(dev)}
Receive, in one terminal (any of these):
  mosquitto_sub ${mqttArgs} -t '${stream}'
  ${cliEnv}npx runnel subscribe ${stream}
  node -e "new (require('ws'))('${websocket}/streams/${encoded}/subscribe${wsKey}').on('message', (m) => console.log(String(m)))"

Publish, in another:
  mosquitto_pub ${mqttArgs} -t '${stream}' -m '{"hello":"mqtt"}'
  curl -X POST '${http}/streams/${encoded}'${bearer} -H 'content-type: application/json' -d '{"hello":"http"}'
  printf '{"n":1}\\n{"n":2}\\n' | curl -X POST '${http}/streams/${encoded}'${bearer} -H 'content-type: application/x-ndjson' --data-binary @-
  echo '{"hello":"cli"}' | ${cliEnv}npx runnel publish ${stream}
${dev.storageUrl === undefined ? '' : `\nRead the history back:\n  curl '${dev.storageUrl}/streams/${encoded}/data/partitions/0/last?count=10'\n`}
From a Node.js app (SDK):
  import { createRunnelClient } from '@runnel/client/node'
  const client = createRunnelClient({ auth: { privateKey: '${dev.devPrivateKey}' }${sdkOptions} })
  const stream = await client.createStream('/my-stream')
  await client.subscribe('${stream}', (message) => console.log(message.content))
  await client.publish('${stream}', { hello: 'sdk' })

`
}

/** The operators and how to watch them earn, when `--operators` started any. */
function operatorsGuide(dev: DevNetwork): string {
  if (dev.operators.length === 0 || dev.sponsorshipId === undefined) return ''
  const lines = dev.operators.map(
    (operator, i) =>
      `                   ${i + 1}. ${operator.address}   (owner and node: dev account ${operator.owner})`,
  )
  return `  sponsorship      ${dev.sponsorshipId}   (pays 1 RNL/s on the demo stream, split by stake)
  operators        ${dev.operators.length}, each staked 5,000 RNL; their nodes relay the demo stream and collect earnings
${lines.join('\n')}
                   watch them earn: npx runnel sponsorship show ${dev.sponsorshipId}
`
}
