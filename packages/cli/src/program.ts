import { createRequire } from 'node:module'
import { Command, CommanderError } from 'commander'
import { registerDataUnionCommands } from './commands/dataunion.js'
import { registerDevCommand } from './commands/dev.js'
import { registerExplorerCommand } from './commands/explorer.js'
import { registerIdentityCommands } from './commands/identity.js'
import { registerNodeCommand } from './commands/node.js'
import { registerOperatorCommands } from './commands/operator.js'
import { registerProductCommands } from './commands/product.js'
import { registerPublishCommand } from './commands/publish.js'
import { registerResendCommands } from './commands/resend.js'
import { registerSponsorshipCommands } from './commands/sponsorship.js'
import { registerStorageNodeCommands } from './commands/storageNode.js'
import { registerStreamCommands } from './commands/stream.js'
import { registerSubscribeCommand } from './commands/subscribe.js'
import { registerTokenCommands } from './commands/token.js'
import { registerTrackerCommand } from './commands/tracker.js'
import { processContext, type CliContext } from './context.js'
import { EXIT, exitCodeFor } from './exitCodes.js'

// src/ and dist/ are both one level below package.json.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string }

const GLOBAL_HELP = `
Settings, for every command that talks to the network (highest precedence first):
  --private-key, --rpc, --tracker, --discovery, --entry-point, --config flags
  RUNNEL_PRIVATE_KEY, RUNNEL_RPC_URL, RUNNEL_TRACKERS (comma-separated), RUNNEL_DISCOVERY (tracker or dht),
    RUNNEL_ENTRY_POINTS (comma-separated), RUNNEL_CONFIG
  the config file: $RUNNEL_CONFIG or $RUNNEL_HOME/config.json, JSON with privateKey, rpcUrl, trackers, discovery,
    entryPoints, contracts, incentives, market
  the identity file $RUNNEL_HOME/identity.json (for the key; see \`runnel identity create\`)
  the local defaults: http://127.0.0.1:8545, tracker ws://127.0.0.1:30300 (dht mode: entry point
    ws://127.0.0.1:30301), the dev chain's contracts
Discovery: tracker mode unless set, or unless only entry points are given (then dht mode).
RUNNEL_HOME defaults to ~/.runnel. RUNNEL_DEBUG=1 prints stack traces.

Exit codes:
  0  success
  1  unexpected error
  2  usage error (unknown command or option, bad argument)
  3  invalid input or config (settings, config files, stdin lines, metadata, paths)
  4  not found (no such stream, storage node, sponsorship, operator, flag, product or Data Union)
  5  permission denied (including votes by non-reviewers and calls only an operator's owner or nodes may make)
  6  network or chain unreachable (JSON-RPC endpoint, trackers, every DHT entry point), or no storage node stores or answers for the stream

Examples:
  $ runnel identity create
  $ runnel stream create /greenhouse --partitions 2
  $ echo '{"celsius":21.5}' | runnel publish /greenhouse
  $ runnel subscribe 0x3c44…93bc/greenhouse --count 1
  $ runnel storage-node add-stream /greenhouse 0x90f7…b906
  $ runnel resend last 0x3c44…93bc/greenhouse 10
  $ runnel sponsorship create /greenhouse --rate 0.5 --fund 10000
  $ runnel operator create --cut 10 && runnel operator delegate 0x61c3…33e1 5000 && runnel operator stake 1 5000
  $ runnel product create --name Greenhouse --stream /greenhouse --price 0.001 && runnel product buy 1 --period 1h
  $ runnel du create --admin-fee 10 && runnel du join 0x5fc8…07c2 --join-server https://join.example.org --secret s`

/**
 * The `runnel` command, with every subcommand registered. Commander's own
 * exits are turned into exceptions (`exitOverride`), so {@link runCli} decides
 * every exit code.
 *
 * @example
 * ```ts
 * await createProgram().parseAsync(['node', 'runnel', 'identity', 'show'])
 * ```
 */
export function createProgram(context: CliContext = processContext()): Command {
  const program = new Command('runnel')
    .description(
      'Runnel from the command line: identities, streams, permissions, publish, subscribe, history, storage nodes, tokens, sponsorships, operators, products, Data Unions, trackers and nodes',
    )
    .version(version, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
      outputError: (text, write) => write(`runnel: ${text.replace(/^error: /, '')}`),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', GLOBAL_HELP)
  // Subcommands inherit the exit override and output settings above.
  registerIdentityCommands(program, context)
  registerStreamCommands(program, context)
  registerPublishCommand(program, context)
  registerSubscribeCommand(program, context)
  registerResendCommands(program, context)
  registerStorageNodeCommands(program, context)
  registerTokenCommands(program, context)
  registerSponsorshipCommands(program, context)
  registerOperatorCommands(program, context)
  registerProductCommands(program, context)
  registerDataUnionCommands(program, context)
  registerTrackerCommand(program, context)
  registerNodeCommand(program, context)
  registerDevCommand(program, context)
  registerExplorerCommand(program, context)
  return program
}

/**
 * Runs `runnel` with `argv` (as `process.argv`: node, script, arguments…)
 * and resolves to the exit code. Errors go to stderr as `runnel: <message>`,
 * with the stack when `RUNNEL_DEBUG=1`.
 */
export async function runCli(argv: readonly string[], context: CliContext = processContext()): Promise<number> {
  const program = createProgram(context)
  try {
    await program.parseAsync([...argv])
    return EXIT.OK
  } catch (err) {
    // Commander has printed its message (or the help) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    const code = exitCodeFor(err)
    reportError(context, err, code)
    return code
  }
}

function reportError(context: CliContext, err: unknown, code: number): void {
  const debug = context.env.RUNNEL_DEBUG === '1'
  context.stderr.write(`runnel: ${err instanceof Error ? err.message : String(err)}\n`)
  if (debug) {
    for (let current: unknown = err; current !== undefined;) {
      context.stderr.write(
        `${current instanceof Error ? (current.stack ?? current.message) : JSON.stringify(current)}\n`,
      )
      current = current instanceof Error ? current.cause : undefined
      if (current !== undefined) context.stderr.write('caused by: ')
    }
  } else if (code === EXIT.UNEXPECTED) {
    context.stderr.write('runnel: (set RUNNEL_DEBUG=1 for the stack trace)\n')
  }
}
