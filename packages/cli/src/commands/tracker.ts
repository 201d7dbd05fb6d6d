import type { Command } from 'commander'
import { TrackerServer } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { note, printJson, printLine, type CliContext } from '../context.js'
import { addJsonOption, integerOption } from '../options.js'
import { parseKeySetting } from '../settings.js'
import { listenForShutdown } from '../signals.js'

interface TrackerOptions {
  readonly host: string
  readonly port: number
  readonly privateKey?: string
  readonly json?: boolean
}

/** `runnel tracker`: a tracker server until SIGINT or SIGTERM. */
export function registerTrackerCommand(program: Command, context: CliContext): void {
  addJsonOption(
    program
      .command('tracker')
      .description('run a tracker: nodes find their neighbours through it')
      .option('--host <host>', 'interface to listen on', '127.0.0.1')
      .option('--port <port>', 'port to listen on (0: any free port)', integerOption('--port', 0, 65535), 30300)
      .option('--private-key <hex>', 'the key the tracker signs its handshakes with (default: a new one)'),
  )
    .addHelpText(
      'after',
      `
Prints the tracker's URL (give it to nodes and clients as --tracker or RUNNEL_TRACKERS) and runs until Ctrl-C
(SIGINT) or SIGTERM, then stops gracefully and exits 0.

Example:
  $ runnel tracker --host 0.0.0.0 --port 30300`,
    )
    .action(async (options: TrackerOptions) => {
      const key =
        options.privateKey === undefined ? generatePrivateKey() : parseKeySetting(options.privateKey, '--private-key')
      const shutdown = listenForShutdown()
      try {
        const tracker = new TrackerServer({
          transport: new WebSocketTransport({ host: options.host, port: options.port }),
          signer: createNativeSigner(key),
          verifier: nativeSignatureVerifier,
        })
        const urls = await tracker.start()
        try {
          if (options.json === true) printJson(context, { urls, nodeId: tracker.nodeId })
          else for (const url of urls) printLine(context, url)
          note(context, `tracker ${tracker.nodeId} running; Ctrl-C to stop`)
          await shutdown.received
        } finally {
          await tracker.stop()
        }
        note(context, 'tracker stopped')
      } finally {
        shutdown.dispose()
      }
    })
}
