import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../helpers.js'

const CLI_DIR = fileURLToPath(new URL('../../../cli/', import.meta.url))

export interface Daemon {
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  output(): string
}

/** Starts `runnel node --config <file>` from the sources; resolves once it printed its storage (history) endpoint. */
export async function startDaemon(configPath: string): Promise<Daemon> {
  const child = spawn(
    process.execPath,
    ['--conditions=runnel-source', '--import', 'tsx', 'src/bin.ts', 'node', '--config', configPath],
    { cwd: CLI_DIR, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, stdio: 'pipe' },
  )
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  let ended = false
  void exited.then(() => (ended = true))
  await waitFor(() => ended || /^ {2}storage +http:\/\//m.test(output), 120_000, 'the daemon to print its endpoints')
  if (ended) throw new Error(`the daemon exited before starting:\n${output}`)
  return { child, exited, output: () => output }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
