import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { PUBLIC } from '@runnel/chain'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { TrackerServer } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import type { NodeConfigInput } from '../src/index.js'
import type { NodeProcessCommand, NodeProcessMemory, NodeProcessReport } from './nodeProcess.js'

/** What the benchmark talks to: a node daemon in its own process, on a dev chain and a tracker in this one. */
export interface BenchNetwork {
  /** A stream everyone may publish to and subscribe to. */
  readonly streamId: string
  /** URL per started API (`websocket`, `http`, `mqtt`). */
  readonly endpoints: Readonly<Record<string, string | undefined>>
  /** The node daemon's process id, for reading its CPU time. */
  readonly nodePid: number
  /** Rejects if the node's process ends before stop(): race a measurement with it, so a crash can't hang the bench. */
  readonly crashed: Promise<never>
  /** The node process's `process.memoryUsage()`. */
  memory(): Promise<NodeJS.MemoryUsage>
  stop(): Promise<void>
}

export interface BenchNetworkOptions {
  /** Which APIs the node starts. */
  readonly plugins: { readonly http: boolean; readonly websocket: boolean; readonly mqtt: boolean }
  /** Extra Node.js flags for the node's process, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[]
}

const ACCOUNT = { owner: 1, node: 2 } as const

/**
 * Starts the dev chain (JSON-RPC on 127.0.0.1) and a tracker in this process,
 * and creates a stream anyone may publish to and subscribe to, owned by dev
 * account `owner`. Adds their stops to `stops`.
 */
export async function startChainAndTracker(
  path: string,
  owner: number,
  stops: (() => Promise<unknown>)[],
): Promise<{ dev: DevChain; trackers: string[]; streamId: string }> {
  const dev = await startDevChain({ host: '127.0.0.1', port: 0 })
  stops.push(() => dev.stop())
  const tracker = new TrackerServer({
    transport: new WebSocketTransport({ host: '127.0.0.1', port: 0 }),
    signer: createNativeSigner(generatePrivateKey()),
    verifier: nativeSignatureVerifier,
  })
  const trackers = await tracker.start()
  stops.push(() => tracker.stop())
  const registry = dev.registryFor(owner)
  const stream = await registry.createStream(path)
  await registry.grantPermission(stream.id, PUBLIC, 'publish')
  await registry.grantPermission(stream.id, PUBLIC, 'subscribe')
  return { dev, trackers, streamId: stream.id }
}

/**
 * Starts the dev chain (JSON-RPC on 127.0.0.1) and a tracker here, creates a
 * public stream, and starts a node daemon with the APIs asked for in a child
 * process. Everything listens on 127.0.0.1, on free ports.
 */
export async function startBenchNetwork(options: BenchNetworkOptions): Promise<BenchNetwork> {
  const stops: (() => Promise<unknown>)[] = []
  const stop = async (): Promise<void> => {
    for (const step of stops.splice(0).reverse()) await step()
  }
  try {
    const { dev, trackers, streamId } = await startChainAndTracker('/bench/api', ACCOUNT.owner, stops)
    const stream = { id: streamId }

    const port = (on: boolean): { host: string; port: number } | false => on && { host: '127.0.0.1', port: 0 }
    const config: NodeConfigInput = {
      privateKey: dev.chain.accountKeys[ACCOUNT.node],
      network: { trackers, listen: { host: '127.0.0.1', port: 0 } },
      chain: {
        rpcUrl: dev.chain.rpcUrl!,
        contracts: {
          streamRegistry: dev.deployment.streamRegistry,
          storageNodeRegistry: dev.deployment.storageNodeRegistry,
        },
      },
      plugins: {
        http: port(options.plugins.http),
        websocket: port(options.plugins.websocket),
        mqtt: port(options.plugins.mqtt),
      },
      // BENCH_NODE_LOG=info shows, say, the node's collection after a load.
      log: { level: (process.env.BENCH_NODE_LOG ?? 'silent') as 'silent' | 'info' | 'debug' },
    }
    const child = fork(fileURLToPath(new URL('./nodeProcess.ts', import.meta.url)), {
      // This process's flags (`--conditions=runnel-source --import tsx`) run the child's TypeScript too.
      execArgv: [...process.execArgv, ...(options.nodeFlags ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    let stopping = false
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const crashed = exited.then((code) => {
      if (!stopping) throw new Error(`the node's process ended during the benchmark (exit code ${code})`)
      return new Promise<never>(() => {})
    })
    // Only the race with a measurement reports a crash; unraced, it is no unhandled rejection.
    crashed.catch(() => {})
    stops.push(async () => {
      stopping = true
      if (child.connected) send(child, { type: 'stop' })
      await exited
    })
    const endpoints = await started(child, config)
    const memory = (): Promise<NodeJS.MemoryUsage> =>
      new Promise((resolve) => {
        child.once('message', (report: NodeProcessMemory) => resolve(report.usage))
        send(child, { type: 'memory' })
      })
    return { streamId: stream.id, endpoints, nodePid: child.pid!, crashed, memory, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

function send(child: ChildProcess, command: NodeProcessCommand): void {
  child.send(command)
}

function started(child: ChildProcess, config: NodeConfigInput): Promise<Record<string, string | undefined>> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void =>
      reject(new Error(`the node process exited (code ${code}) before starting`))
    child.once('exit', onExit)
    child.once('message', (report: NodeProcessReport) => {
      child.off('exit', onExit)
      if (report.type === 'started') resolve(report.endpoints)
      else reject(new Error(`the node failed to start: ${report.message}`))
    })
    send(child, { type: 'start', config })
  })
}
