import type { Command } from 'commander'
import { note, printJson, printLine, type CliContext } from '../context.js'
import { addJsonOption } from '../options.js'
import { parseKeySetting } from '../settings.js'
import { listenForShutdown } from '../signals.js'

interface NodeOptions {
  readonly config: string
  readonly privateKey?: string
  readonly json?: boolean
}

/** `runnel node --config <file>`: the node daemon until SIGINT or SIGTERM. */
export function registerNodeCommand(program: Command, context: CliContext): void {
  addJsonOption(
    program
      .command('node')
      .description('run a node daemon with the APIs its config file enables (WebSocket, HTTP, MQTT)')
      .requiredOption('--config <file>', 'the node config file (JSON; see @runnel/node)')
      .option('--private-key <hex>', "the key the node acts as, overriding the config file's privateKey"),
  )
    .addHelpText(
      'after',
      `
The node is configured by its config file alone (RUNNEL_* variables and the runnel config file don't apply), except
for --private-key. It prints its endpoints, logs to stdout, and on Ctrl-C (SIGINT) or SIGTERM stops gracefully and
exits 0. An invalid config file exits 3, naming the bad key. If another running process is connected with the same
private key, the node stops and exits 3 (IDENTITY_IN_USE): give each process its own key.

Example:
  $ echo '{ "plugins": { "http": true, "websocket": true } }' > node.json
  $ runnel node --config node.json`,
    )
    .action(async (options: NodeOptions) => {
      // Loaded here: the daemon's HTTP, MQTT and WebSocket servers are no business of the other commands.
      const { RunnelNode, loadConfigFile } = await import('@runnel/node')
      const loaded = await loadConfigFile(options.config)
      const config =
        options.privateKey === undefined
          ? loaded
          : { ...loaded, privateKey: parseKeySetting(options.privateKey, '--private-key') }
      const shutdown = listenForShutdown()
      try {
        const node = new RunnelNode(config)
        const info = await node.start()
        try {
          if (options.json === true) {
            printJson(context, info)
          } else {
            printLine(context, `node ${info.address} started`)
            for (const [api, url] of Object.entries(info.endpoints)) printLine(context, `  ${api.padEnd(9)} ${url}`)
          }
          note(context, `node running; Ctrl-C to stop`)
          const failure = await Promise.race([shutdown.received.then(() => undefined), node.failed])
          if (failure !== undefined) throw failure
        } finally {
          await node.stop()
        }
        note(context, 'node stopped')
      } finally {
        shutdown.dispose()
      }
    })
}
