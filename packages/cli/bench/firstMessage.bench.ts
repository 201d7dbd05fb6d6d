// Time to first message, as an app sees it with `npm start` running: the README's SDK snippet timed step by step,
// from createRunnelClient to the first message of a new stream delivered to the app; then a second app joining that
// stream while it has a subscriber. The network is `runnel dev` in a process of its own, as `npm start` runs it
// (with free ports, so a running `npm start` doesn't get in the way).
//
// Run: npm run bench -w @runnel/cli   (or: node --conditions=runnel-source --import tsx bench/firstMessage.bench.ts)
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createRunnelClient } from '@runnel/client/node'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const binary = fileURLToPath(new URL('../bin/runnel.mjs', import.meta.url))

interface Endpoints {
  readonly rpcUrl: string
  readonly trackerUrl: string
  readonly devPrivateKey: string
}

async function startDevNetwork(): Promise<{ endpoints: Endpoints; process: ChildProcess }> {
  const child = spawn(process.execPath, [binary, 'dev', '--free-ports', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stderr.resume()
  const lines = createInterface({ input: child.stdout })
  const [line] = (await once(lines, 'line')) as [string]
  return { endpoints: JSON.parse(line) as Endpoints, process: child }
}

/** Runs `step`, records its time under `name`, and returns its result. */
function stepper(times: Map<string, number[]>) {
  return async <T>(name: string, step: () => Promise<T> | T): Promise<T> => {
    const started = performance.now()
    const result = await step()
    const list = times.get(name) ?? []
    list.push(performance.now() - started)
    times.set(name, list)
    return result
  }
}

function firstMessage(): { deliver: (content: unknown) => void; delivered: Promise<unknown> } {
  let deliver!: (content: unknown) => void
  const delivered = new Promise<unknown>((resolve) => (deliver = resolve))
  return { deliver, delivered }
}

async function round(endpoints: Endpoints, index: number, times: Map<string, number[]>): Promise<void> {
  const step = stepper(times)
  const options = { network: { trackers: [endpoints.trackerUrl] }, chain: { rpcUrl: endpoints.rpcUrl } }
  const total = performance.now()
  const app = await step('1. createRunnelClient', () =>
    createRunnelClient({ ...options, auth: { privateKey: endpoints.devPrivateKey } }),
  )
  const stream = await step('2. getOrCreateStream (new)', () => app.getOrCreateStream(`/bench-first-${index}`))
  await step('3. grantPermissions public subscribe', () => stream.grantPermissions('public', 'subscribe'))
  const first = firstMessage()
  await step('4. subscribe (first node of the stream part)', () =>
    app.subscribe(stream.id, (message) => first.deliver(message.content)),
  )
  await step('5. publish → first delivery', async () => {
    await app.publish(stream.id, { n: 1 })
    await first.delivered
  })
  const list = times.get('= createRunnelClient → first delivery') ?? []
  list.push(performance.now() - total)
  times.set('= createRunnelClient → first delivery', list)

  // A second app joins the stream, which now has a subscriber.
  const second = firstMessage()
  const other = await step('6. second app: createRunnelClient', () => createRunnelClient(options))
  await step('7. second app: subscribe (stream part has a node)', () =>
    other.subscribe(stream.id, (message) => second.deliver(message.content)),
  )
  await step('8. second app: publish → delivery', async () => {
    await app.publish(stream.id, { n: 2 })
    await second.delivered
  })
  await Promise.all([app.destroy(), other.destroy()])
}

const { endpoints, process: devProcess } = await startDevNetwork()
try {
  const times = new Map<string, number[]>()
  await round(endpoints, -1, new Map()) // warm-up: module loading, JIT, the chain's first blocks
  for (let i = 0; i < ROUNDS; i++) await round(endpoints, i, times)
  console.log(`time to first message with \`runnel dev\` (${ROUNDS} rounds, ms)`)
  const rows = [...times].sort(([a], [b]) => a.localeCompare(b))
  for (const [name, list] of rows) {
    const sorted = [...list].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)]!
    console.log(
      `  ${name.padEnd(52)} median ${median.toFixed(1).padStart(7)}   max ${sorted.at(-1)!.toFixed(1).padStart(7)}`,
    )
  }
} finally {
  devProcess.kill('SIGINT')
  await once(devProcess, 'exit')
}
