import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import {
  startTestDiscovery,
  testDiscoveryMode,
  type DiscoverySettings,
} from '../../../client/test/support/discovery.js'

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** The CLI as installed (`npm run build`'s output): ~0.7 s quicker to start per command than the sources through tsx. */
const BIN = join(PACKAGE_DIR, 'bin/runnel.mjs')

let built = false
/**
 * Brings the CLI's build (and its workspace dependencies') up to date once per test process, so the commands run the
 * sources as they are now: ~1 s when nothing changed (CI's `npm ci` built it already).
 */
function ensureBuilt(): void {
  if (built) return
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-b', join(PACKAGE_DIR, 'tsconfig.build.json')], { stdio: 'inherit' })
  built = true
}
/** Safety net only: a command that hangs fails its test instead of the whole run. */
const COMMAND_TIMEOUT_MS = 120_000

/**
 * A dev chain listening on 127.0.0.1, a tracker (or, with
 * `RUNNEL_TEST_DISCOVERY=dht`, a DHT entry point), and a `RUNNEL_HOME` whose
 * config file names the chain's contracts: what the CLI's child processes
 * run against.
 */
export interface LocalNetwork {
  readonly dev: DevChain
  readonly rpcUrl: string
  /** The tracker's URLs; empty in dht mode. */
  readonly trackers: string[]
  /** The `network` settings of the mode the network runs in (a node config's `network`). */
  readonly discovery: DiscoverySettings
  /** A temporary directory, removed by `stop()`. */
  readonly dir: string
  /** The environment for a CLI child acting as dev account `account` (none: no key), in its own RUNNEL_HOME. */
  env(account?: number, home?: string): Record<string, string>
  stop(): Promise<void>
}

/** `runnel dev`'s arguments for a test: free ports, the JSON line, and the test run's discovery mode. */
export function devArguments(): string[] {
  return ['dev', '--free-ports', '--json', '--discovery', testDiscoveryMode()]
}

/** The settings variables that point a CLI child at the network `runnel dev --json` described. */
export function devNetworkEnv(info: {
  readonly discovery?: string
  readonly trackerUrl?: string
  readonly entryPointUrl?: string
}): Record<string, string> {
  return info.discovery === 'dht'
    ? { RUNNEL_DISCOVERY: 'dht', RUNNEL_ENTRY_POINTS: info.entryPointUrl! }
    : { RUNNEL_TRACKERS: info.trackerUrl! }
}

export async function startLocalNetwork(): Promise<LocalNetwork> {
  const dev = await startDevChain({ host: '127.0.0.1', port: 0 })
  const discovery = await startTestDiscovery()
  const rpcUrl = dev.chain.rpcUrl!
  const dir = await mkdtemp(join(tmpdir(), 'runnel-cli-'))
  // Contracts come from a config file, as for any deployment the defaults don't describe.
  const config = join(dir, 'config.json')
  await writeFile(
    config,
    JSON.stringify({
      contracts: {
        streamRegistry: dev.deployment.streamRegistry,
        storageNodeRegistry: dev.deployment.storageNodeRegistry,
      },
      incentives: dev.deployment.incentives,
    }),
  )
  return {
    dev,
    rpcUrl,
    trackers: discovery.trackers,
    discovery: discovery.settings,
    dir,
    env(account, home = join(dir, 'home')) {
      return {
        RUNNEL_HOME: home,
        RUNNEL_CONFIG: config,
        RUNNEL_RPC_URL: rpcUrl,
        ...(discovery.mode === 'dht'
          ? { RUNNEL_DISCOVERY: 'dht', RUNNEL_ENTRY_POINTS: discovery.entryPoints.join(',') }
          : { RUNNEL_TRACKERS: discovery.trackers.join(',') }),
        ...(account !== undefined && { RUNNEL_PRIVATE_KEY: dev.chain.accountKeys[account]! }),
      }
    },
    async stop() {
      await discovery.stop()
      await dev.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** A running `runnel` child process. */
export interface CliProcess {
  readonly child: ChildProcess
  /** Resolves with the first stdout (or stderr) line matching `pattern`, rejects if the process exits first. */
  waitForLine(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<string>
  readonly result: Promise<CliResult>
}

/**
 * Starts `runnel <args>` as a child process, built from the sources as they are now. The child's
 * environment is only `env` (plus PATH and HOME), so the machine's own
 * RUNNEL_* variables can't leak in. It is killed after `timeoutMs` (default
 * 120 s): a long-lived child, such as a `runnel dev` shared by a suite, needs more.
 */
export function startCli(
  args: string[],
  env: Record<string, string>,
  stdin?: string,
  { timeoutMs = COMMAND_TIMEOUT_MS }: { timeoutMs?: number } = {},
): CliProcess {
  ensureBuilt()
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    cwd: PACKAGE_DIR,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const output = { stdout: '', stderr: '' }
  const lineWaiters: { stream: 'stdout' | 'stderr'; pattern: RegExp; resolve: (line: string) => void }[] = []
  const check = (): void => {
    for (const waiter of [...lineWaiters]) {
      const line = output[waiter.stream].split('\n').find((each) => waiter.pattern.test(each))
      if (line !== undefined) {
        lineWaiters.splice(lineWaiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  }
  for (const name of ['stdout', 'stderr'] as const) {
    child[name].setEncoding('utf8')
    child[name].on('data', (chunk: string) => {
      output[name] += chunk
      check()
    })
  }
  if (stdin !== undefined) child.stdin.end(stdin)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const result = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, ...output })
    })
  })
  return {
    child,
    result,
    waitForLine(stream, pattern) {
      return new Promise<string>((resolve, reject) => {
        lineWaiters.push({ stream, pattern, resolve })
        check()
        result.then(
          (done) =>
            reject(
              new Error(
                `runnel ${args.join(' ')} exited (${String(done.code)}) before printing ${String(pattern)} on ${stream}\nstdout: ${done.stdout}\nstderr: ${done.stderr}`,
              ),
            ),
          reject,
        )
      })
    },
  }
}

/** Runs `runnel <args>` to the end. */
export function runCliProcess(args: string[], env: Record<string, string>, stdin = ''): Promise<CliResult> {
  return startCli(args, env, stdin).result
}

/** Describes a result for assertion messages. */
export function describeResult(result: CliResult): string {
  return `exit ${String(result.code)}${result.signal === null ? '' : ` (${result.signal})`}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`
}
