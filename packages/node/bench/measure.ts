import { readdir, readFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ApiPath, Publisher } from './paths.js'

/** Settings of one path's runs. */
export interface MeasureOptions {
  /** Content size in bytes (the JSON text each message is). */
  readonly size: number
  /** Messages per second in the latency run, and how long it lasts. */
  readonly rate: number
  readonly seconds: number
  /** Messages sent (and awaited) before measuring. */
  readonly warmup: number
  /** A run ends when no message has arrived for this long; what is missing then is lost. */
  readonly idleMs: number
  /** The broker's (or node's) process, for its CPU time (read from /proc: reported as unknown elsewhere). */
  readonly serverPid: number
}

export interface Latency {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly received: number
  readonly lost: number
  /** The server's CPU time per delivered message at this rate, in µs (every message handled on its own). */
  readonly serverCpuMicros: number | undefined
}

export interface Throughput {
  readonly sent: number
  readonly failed: number
  readonly received: number
  readonly lost: number
  readonly duplicates: number
  /** Messages delivered per second, first send → last delivery. */
  readonly rate: number
  /** Publish calls completed per second (all taken by the API). */
  readonly sendRate: number
  /** CPU time (user + system, all threads) per delivered message, in µs: the server's, and this process's (both clients). */
  readonly serverCpuMicros: number | undefined
  readonly clientCpuMicros: number
}

export interface PathResult {
  readonly path: string
  readonly size: number
  readonly latency: Latency
  readonly throughput: Throughput
}

/** Sends and receives of one run; messages of other runs (late arrivals) are ignored. */
class Run {
  private static nextId = 1
  readonly id = Run.nextId++
  readonly seen: Uint8Array
  readonly latencies: number[] = []
  received = 0
  duplicates = 0
  failed = 0
  lastReceivedAt = 0
  private onProgress: (() => void) | undefined

  constructor(
    readonly count: number,
    private readonly pad: string,
  ) {
    this.seen = new Uint8Array(count)
  }

  /** The message text: its run, index and send time (`performance.now()` of this process), padded to size. */
  message(index: number): string {
    return `{"run":${this.id},"i":${index},"at":${performance.now()},"pad":"${this.pad}"}`
  }

  receive(message: { run: number; i: number; at: number }, now: number): void {
    if (this.seen[message.i] === 1) {
      this.duplicates++
      return
    }
    this.seen[message.i] = 1
    this.received++
    this.lastReceivedAt = now
    this.latencies.push(now - message.at)
    if (this.received === this.count) this.onProgress?.()
  }

  /** Resolves once every message arrived, or none arrived for `idleMs`. */
  async settled(idleMs: number): Promise<void> {
    const complete = new Promise<void>((resolve) => (this.onProgress = resolve))
    let lastCount = -1
    let lastChange = performance.now()
    while (this.received < this.count) {
      if (this.received !== lastCount) {
        lastCount = this.received
        lastChange = performance.now()
      } else if (performance.now() - lastChange > idleMs) {
        break
      }
      await Promise.race([complete, sleep(50)])
    }
    this.onProgress = undefined
  }
}

/**
 * Measures one path: warm-up, latency at a steady rate, then a burst sent as
 * fast as the API takes it. The subscriber and publisher stay connected
 * across the three.
 */
export async function measurePath(path: ApiPath, options: MeasureOptions): Promise<PathResult> {
  const pad = 'x'.repeat(Math.max(0, options.size - `{"run":1,"i":1000,"at":12345.678901,"pad":""}`.length))
  let current: Run | undefined
  const subscriber = await path.subscribe((text) => {
    const now = performance.now()
    const message = JSON.parse(text) as { run: number; i: number; at: number }
    if (current !== undefined && message.run === current.id) current.receive(message, now)
  })
  const publisher = await path.publisher()
  try {
    // Warm-up: the first messages pay for joining the stream, permission look-ups and JIT.
    current = new Run(options.warmup, pad)
    await sendAll(current, publisher, path.window)
    await current.settled(Math.max(options.idleMs, 10_000))

    current = new Run(Math.round(options.rate * options.seconds), pad)
    const steadyBefore = await cpuSeconds(options.serverPid)
    await sendAtRate(current, publisher, options.rate)
    await current.settled(options.idleMs)
    const latency = {
      ...summarize(current),
      serverCpuMicros: perMessage(steadyBefore, await cpuSeconds(options.serverPid), current.received),
    }

    current = new Run(path.burst, pad)
    const serverBefore = await cpuSeconds(options.serverPid)
    const clientBefore = process.cpuUsage()
    const start = performance.now()
    await sendAll(current, publisher, path.window)
    const sent = performance.now()
    await current.settled(options.idleMs)
    const clientCpu = process.cpuUsage(clientBefore)
    const serverAfter = await cpuSeconds(options.serverPid)
    const run = current
    const delivered = Math.max(1, run.received)
    return {
      path: path.name,
      size: options.size,
      latency,
      throughput: {
        sent: run.count - run.failed,
        failed: run.failed,
        received: run.received,
        lost: run.count - run.received,
        duplicates: run.duplicates,
        rate: run.received === 0 ? 0 : run.received / ((run.lastReceivedAt - start) / 1000),
        sendRate: run.count / ((sent - start) / 1000),
        serverCpuMicros: perMessage(serverBefore, serverAfter, run.received),
        clientCpuMicros: (clientCpu.user + clientCpu.system) / delivered,
      },
    }
  } finally {
    current = undefined
    await publisher.close()
    await subscriber.close()
  }
}

/** Sends every message of a run with at most `window` sends in flight. */
async function sendAll(run: Run, publisher: Publisher, window: number): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < run.count) {
      const index = next++
      try {
        await publisher.send(run.message(index))
      } catch {
        run.failed++
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, run.count) }, worker))
}

/** Sends a run's messages at `rate` per second on a fixed schedule, not waiting for one send to finish before the next. */
async function sendAtRate(run: Run, publisher: Publisher, rate: number): Promise<void> {
  const begin = performance.now()
  const sends: Promise<void>[] = []
  for (let index = 0; index < run.count; index++) {
    const wait = begin + (index * 1000) / rate - performance.now()
    if (wait > 0) await sleep(wait)
    sends.push(
      publisher.send(run.message(index)).catch(() => {
        run.failed++
      }),
    )
  }
  await Promise.all(sends)
}

function perMessage(before: number | undefined, after: number | undefined, messages: number): number | undefined {
  if (before === undefined || after === undefined || messages === 0) return undefined
  return ((after - before) * 1e6) / messages
}

function summarize(run: Run): Omit<Latency, 'serverCpuMicros'> {
  const sorted = Float64Array.from(run.latencies).sort()
  const pick = (p: number): number =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
  return {
    p50: pick(50),
    p90: pick(90),
    p99: pick(99),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    received: run.received,
    lost: run.count - run.received,
  }
}

/** How busy a process is while nothing is sent: its CPU time over `ms`, as a share of one core. */
export async function idleShare(pid: number, ms: number): Promise<number | undefined> {
  const before = await cpuSeconds(pid)
  await sleep(ms)
  const after = await cpuSeconds(pid)
  return before === undefined || after === undefined ? undefined : (after - before) / (ms / 1000)
}

/**
 * A process's CPU time so far, all threads, in seconds, from the scheduler's
 * nanosecond counters in /proc (clock-tick counters would round a 10,000
 * message burst to ±10 ms); undefined off Linux.
 */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const threads = await readdir(`/proc/${pid}/task`)
    let nanoseconds = 0
    for (const thread of threads) {
      try {
        nanoseconds += Number((await readFile(`/proc/${pid}/task/${thread}/schedstat`, 'utf8')).split(' ')[0])
      } catch {
        // The thread ended meanwhile; its time is lost from the sum, which only a thread ending mid-run changes.
      }
    }
    return nanoseconds / 1e9
  } catch {
    return undefined
  }
}
