import { spawn } from 'node:child_process'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const MOSQUITTO_BINARY = '/usr/sbin/mosquitto'

/** A mosquitto broker this process started on 127.0.0.1. */
export interface Mosquitto {
  readonly url: string
  readonly pid: number
  /** e.g. `2.0.11`. */
  readonly version: string
  stop(): Promise<void>
}

/**
 * Starts Debian's mosquitto on a free port with a throw-away config, or
 * resolves undefined when the binary isn't installed.
 *
 * The config keeps mosquitto's defaults but for two settings. `set_tcp_nodelay`
 * turns Nagle's algorithm off (with it on, QoS 0 messages wait up to 40 ms for
 * the subscriber's delayed ACK: p50 15 ms at 200 msgs/s of 1 KB). A
 * subscriber's queue of QoS 1 messages is raised from 1,000 to 1,000,000, so
 * a fast QoS 1 burst is delivered rather than dropped.
 */
export async function startMosquitto(): Promise<Mosquitto | undefined> {
  if (!existsSync(MOSQUITTO_BINARY)) return undefined
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'runnel-bench-mosquitto-'))
  const configFile = join(dir, 'mosquitto.conf')
  await writeFile(
    configFile,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'set_tcp_nodelay true',
      'max_queued_messages 1000000',
      '',
    ].join('\n'),
  )
  // The binary itself, not a shell: its pid is the broker's, and killing it ends the broker.
  const broker = spawn(MOSQUITTO_BINARY, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  broker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<void>((resolve) => broker.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (broker.exitCode === null && broker.signalCode === null) broker.kill('SIGTERM')
    await exited
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await waitForPort(port, exited, () => stderr)
    return { url: `mqtt://127.0.0.1:${port}`, pid: broker.pid!, version: await version(), stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitForPort(port: number, exited: Promise<void>, output: () => string): Promise<void> {
  let gone = false
  void exited.then(() => (gone = true))
  const deadline = Date.now() + 5_000
  while (!(await canConnect(port))) {
    if (gone) throw new Error(`mosquitto exited at start: ${output().trim()}`)
    if (Date.now() > deadline) throw new Error(`mosquitto didn't listen on ${port} within 5 s: ${output().trim()}`)
    await sleep(20)
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

function version(): Promise<string> {
  return new Promise((resolve) => {
    // `mosquitto -h` prints its version and exits non-zero.
    execFile(MOSQUITTO_BINARY, ['-h'], (_err, stdout) => {
      resolve(/mosquitto version (\S+)/.exec(stdout)?.[1] ?? 'unknown')
    })
  })
}
