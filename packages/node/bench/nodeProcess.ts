// The node daemon under test, in a process of its own (spawned by setup.ts) so
// that its event loop and CPU time are its own, as mosquitto's are. It gets
// its config over IPC, answers with its endpoints, and stops when asked or
// when the parent goes away.
import { RunnelNode, type NodeConfigInput } from '../src/index.js'

/** Parent → child. */
export type NodeProcessCommand =
  { readonly type: 'start'; readonly config: NodeConfigInput } | { readonly type: 'stop' } | { readonly type: 'memory' }
/** Child → parent. */
export type NodeProcessReport =
  | { readonly type: 'started'; readonly endpoints: Record<string, string | undefined> }
  | { readonly type: 'failed'; readonly message: string }
/** Child → parent, answering `memory`. */
export interface NodeProcessMemory {
  readonly type: 'memory'
  readonly usage: NodeJS.MemoryUsage
}

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

/** With `--expose-gc` among the node's flags, what is measured is what survives a full collection. */
function reportMemory(): void {
  const { gc } = globalThis as { gc?: () => void }
  gc?.()
  process.send?.({ type: 'memory', usage: process.memoryUsage() } satisfies NodeProcessMemory)
}

function report(message: NodeProcessReport): void {
  process.send?.(message)
}

process.on('message', (command: NodeProcessCommand) => {
  if (command.type === 'start') void start(command.config)
  else if (command.type === 'memory') reportMemory()
  else void stop()
})
process.once('disconnect', () => void stop())
