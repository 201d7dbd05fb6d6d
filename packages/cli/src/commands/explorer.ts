import type { Command } from 'commander'
import { networkSettings } from '../client.js'
import { note, printJson, printLine, type CliContext } from '../context.js'
import { addJsonOption, addSettingsOptions, integerOption } from '../options.js'
import { loadSettings, type SettingsFlags } from '../settings.js'
import { listenForShutdown } from '../signals.js'

interface ExplorerFlags extends SettingsFlags {
  readonly host: string
  readonly port: number
  readonly network?: string
  readonly json?: boolean
}

/** `runnel explorer`: the Network Explorer for any network, until SIGINT or SIGTERM. */
export function registerExplorerCommand(program: Command, context: CliContext): void {
  addJsonOption(
    addSettingsOptions(
      program
        .command('explorer')
        .description('serve the Network Explorer (a web app) for a network: nodes, streams, overlays, live tails')
        .option(
          '--network <config>',
          "the network's config file (as --config: rpc, trackers or entry points, contracts)",
        )
        .option('--host <host>', 'interface to listen on', '127.0.0.1')
        .option('--port <port>', 'port to listen on (0: any free port)', integerOption('--port', 0, 65535), 7180),
    ),
  )
    .addHelpText(
      'after',
      `
Follows the network from a node of its own (no key needed: it only reads) and prints the explorer's URL. Nodes show up
once they publish their metrics streams. Runs until Ctrl-C (SIGINT) or SIGTERM. \`runnel dev\` serves one already.

Example:
  $ runnel explorer --network ./testnet.json --port 7180`,
    )
    .action(async (options: ExplorerFlags) => {
      const settings = await loadSettings(
        { ...options, ...(options.network !== undefined && { config: options.network }) },
        context.env,
        context.homedir,
      )
      // Loaded here: other commands never need the explorer's server.
      const [{ createRunnelClient }, { ExplorerServer }] = await Promise.all([
        import('@runnel/client/node'),
        import('@runnel/explorer'),
      ])
      const shutdown = listenForShutdown()
      const client = createRunnelClient({
        network: networkSettings(settings),
        chain: {
          rpcUrl: settings.rpcUrl.value,
          contracts: settings.contracts.value,
          incentives: settings.incentives.value,
          market: settings.market.value,
        },
      })
      try {
        const explorer = new ExplorerServer(client, { host: options.host, port: options.port })
        const url = await explorer.start()
        try {
          if (options.json === true) printJson(context, { url })
          else printLine(context, url)
          note(context, 'explorer running; Ctrl-C to stop')
          await shutdown.received
        } finally {
          await explorer.stop()
        }
        note(context, 'explorer stopped')
      } finally {
        await client.destroy()
        shutdown.dispose()
      }
    })
}
