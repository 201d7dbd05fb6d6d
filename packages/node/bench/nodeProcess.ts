// The node daemon under test, in a process of its own (spawned by setup.ts) so
// that its event loop and CPU time are its own, as mosquitto's are. It gets
// its config over IPC, answers with its endpoints, and stops when asked or
// when the parent goes away.
import { RunnelNode, type NodeConfigInput } from '../src/index.js'

/** Parent → child. */
export type NodeProcessCommand =
  { readonly type: 'start'; readonly config: NodeConfigInput } | { readonly type: 'stop' }
/** Child → parent. */
export type NodeProcessReport =
  | { readonly type: 'started'; readonly endpoints: Record<string, string | undefined> }
  | { readonly type: 'failed'; readonly message: string }

let node: RunnelNode | undefined

async function start(config: NodeConfigInput): Promise<void> {
  try {
    node = new RunnelNode(config)
    const { endpoints } = await node.start()
    report({ type: 'started', endpoints })
  } catch (err) {
    report({ type: 'failed', message: err instanceof Error ? err.message : String(err) })
    process.exitCode = 1
    process.disconnect()
  }
}

async function stop(): Promise<void> {
  await node?.stop()
  // Exit explicitly: `--cpu-prof` writes its profile on exit, and a stray handle must not keep a bench waiting.
  process.exit()
}

function report(message: NodeProcessReport): void {
  process.send?.(message)
}

process.on('message', (command: NodeProcessCommand) => {
  if (command.type === 'start') void start(command.config)
  else void stop()
})
process.once('disconnect', () => void stop())
