import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { ManualClock } from '@runnel/protocol'
import { NetworkError } from '../../src/errors.js'
import { SeededRandom } from '../../src/transport/simulator/random.js'
import {
  Simulator,
  constantLatency,
  regionLatency,
  type LatencyModel,
  type SimulatorTransport,
} from '../../src/transport/simulator/Simulator.js'
import type { ConnectionHandlers, TransportConnection } from '../../src/transport/Transport.js'
import { ConnectionRecorder, describeTransportCompliance, waitFor } from '../compliance/transportCompliance.js'

for (const [name, latency] of [
  ['simulator', undefined],
  ['simulator with 5 ms latency', constantLatency(5)],
] as const) {
  describeTransportCompliance(name, () => {
    const simulator = new Simulator({ seed: 1, latency })
    return Promise.resolve({
      createTransport: () => simulator.createTransport(),
      unreachableAddress: 'sim://999999',
      cleanup: () => {
        simulator.stop()
        return Promise.resolve()
      },
    })
  })
}

const SCALE_TIMEOUT_MS = 300_000
/** Measured round trips between cloud regions (test/data/README.md). */
const RTT_DATA_URL = new URL('../data/region-rtt-ms.json', import.meta.url)

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const ignoreClose = (): void => {}

function isNetworkError(code: NetworkError['code']): (err: unknown) => boolean {
  return (err) => err instanceof NetworkError && err.code === code
}

/** Stops the simulator however the test ends, so no timer outlives the test. */
async function withSimulator<T>(simulator: Simulator, run: (simulator: Simulator) => Promise<T>): Promise<T> {
  try {
    return await run(simulator)
  } finally {
    simulator.stop()
  }
}

interface Pair {
  dialer: SimulatorTransport
  listener: SimulatorTransport
  dialerEnd: TransportConnection
  dialerRecorder: ConnectionRecorder
  acceptorEnd: TransportConnection
  acceptorRecorder: ConnectionRecorder
}

async function connectPair(simulator: Simulator): Promise<Pair> {
  const listener = simulator.createTransport()
  const accepted: TransportConnection[] = []
  const acceptorRecorder = new ConnectionRecorder()
  await listener.start((connection) => {
    connection.setHandlers(acceptorRecorder)
    accepted.push(connection)
  })
  const dialer = simulator.createTransport()
  await dialer.start(() => {})
  const dialerEnd = await dialer.connect(listener.address)
  const dialerRecorder = new ConnectionRecorder()
  dialerEnd.setHandlers(dialerRecorder)
  const [acceptorEnd] = accepted
  assert.ok(acceptorEnd !== undefined, 'the listener accepts before the dialer resolves')
  return { dialer, listener, dialerEnd, dialerRecorder, acceptorEnd, acceptorRecorder }
}

/** Network-wide quiet: every frame sent was delivered, lost or discarded. */
function settled(simulator: Simulator): boolean {
  const { framesSent, framesDelivered, framesLost, framesDiscarded } = simulator.stats
  return framesSent === framesDelivered + framesLost + framesDiscarded
}

describe('Simulator', () => {
  it('never delivers inside send, even at zero latency', () =>
    withSimulator(new Simulator(), async (simulator) => {
      const { dialerEnd, acceptorRecorder } = await connectPair(simulator)
      dialerEnd.send(encoder.encode('hello'))
      assert.equal(acceptorRecorder.frames.length, 0)
      await acceptorRecorder.untilFrames(1)
    }))

  it('gives the same loss pattern and delivery order for the same seed, and another for another seed', async () => {
    const latency = regionLatency(
      [
        [2, 30, 61],
        [30, 3, 44],
        [61, 44, 1],
      ],
      { seed: 5, jitterMs: 3 },
    )
    async function runScenario(seed: number): Promise<string[]> {
      return withSimulator(new Simulator({ seed, latency, lossRate: 0.3 }), async (simulator) => {
        const log: string[] = []
        const receivers = Array.from({ length: 6 }, () => simulator.createTransport())
        for (const receiver of receivers) {
          await receiver.start((connection) => {
            connection.setHandlers({
              onFrame: (frame) => {
                const text = decoder.decode(frame)
                log.push(`${receiver.address} got ${text}`)
                // Replies are sent from inside delivery, which is what the simulator must time reproducibly.
                connection.send(encoder.encode(`ack ${text}`))
              },
              onClose: ignoreClose,
            })
          })
        }
        const hub = simulator.createTransport()
        await hub.start(() => {})
        const connections: TransportConnection[] = []
        for (const receiver of receivers) {
          const connection = await hub.connect(receiver.address)
          connection.setHandlers({
            onFrame: (frame) => log.push(`hub got ${decoder.decode(frame)} from ${connection.remoteAddress}`),
            onClose: ignoreClose,
          })
          connections.push(connection)
        }
        for (let round = 0; round < 200; round++) {
          for (const connection of connections) connection.send(encoder.encode(`${round}`))
        }
        await waitFor(() => settled(simulator), 30_000, 'every frame delivered or lost')
        return log
      })
    }

    const first = await runScenario(7)
    const second = await runScenario(7)
    const otherSeed = await runScenario(8)
    assert.ok(first.length > 0)
    assert.deepEqual(second, first)
    assert.notDeepEqual(otherSeed, first)
  })

  it('applies the latency model per direction: a 5 ms link delivers before a 50 ms link', () => {
    let slowAddress = ''
    const latency: LatencyModel = (_from, to) => (to === slowAddress ? 50 : 5)
    return withSimulator(new Simulator({ latency }), async (simulator) => {
      const arrivals: string[] = []
      const [sender, slow, fast] = [
        simulator.createTransport(),
        simulator.createTransport(),
        simulator.createTransport(),
      ]
      slowAddress = slow.address
      for (const [receiver, label] of [
        [slow, 'slow'],
        [fast, 'fast'],
      ] as const) {
        await receiver.start((connection) =>
          connection.setHandlers({ onFrame: () => arrivals.push(label), onClose: ignoreClose }),
        )
      }
      await sender.start(() => {})
      const toSlow = await sender.connect(slow.address)
      const toFast = await sender.connect(fast.address)

      toSlow.send(encoder.encode('sent first'))
      toFast.send(encoder.encode('sent second'))
      await waitFor(() => arrivals.length === 2, 10_000, 'both frames')
      assert.deepEqual(arrivals, ['fast', 'slow'])
    })
  })

  it('drops between 40% and 60% of frames at lossRate 0.5 and keeps the rest in order', () =>
    withSimulator(new Simulator({ seed: 3, lossRate: 0.5 }), async (simulator) => {
      const count = 10_000
      const { dialerEnd, acceptorRecorder } = await connectPair(simulator)
      for (let index = 0; index < count; index++) dialerEnd.send(encoder.encode(`${index}`))
      await waitFor(() => settled(simulator), 10_000, 'every frame delivered or lost')

      const { framesLost, framesSent } = simulator.stats
      assert.equal(framesSent, count)
      assert.ok(framesLost >= count * 0.4 && framesLost <= count * 0.6, `lost ${framesLost} of ${count}`)
      const received = acceptorRecorder.frames.map((frame) => Number(decoder.decode(frame)))
      assert.equal(received.length, count - framesLost)
      assert.ok(
        received.every((value, index) => index === 0 || value > (received[index - 1] ?? -1)),
        'survivors in send order',
      )
    }))

  it('keeps a link FIFO even when the latency model returns ever smaller values', () => {
    let nextLatencyMs = 120
    const shrinking: LatencyModel = () => Math.max(0, nextLatencyMs--)
    return withSimulator(new Simulator({ latency: shrinking }), async (simulator) => {
      const count = 200
      const { dialerEnd, acceptorRecorder } = await connectPair(simulator)
      for (let index = 0; index < count; index++) dialerEnd.send(encoder.encode(`${index}`))
      await acceptorRecorder.untilFrames(count)
      assert.deepEqual(
        acceptorRecorder.frames.map((frame) => Number(decoder.decode(frame))),
        Array.from({ length: count }, (_, index) => index),
      )
    })
  })

  it('delivers frames sent before a close to the remote end before its onClose', () =>
    withSimulator(new Simulator({ latency: constantLatency(10) }), async (simulator) => {
      const listener = simulator.createTransport()
      const events: string[] = []
      const handlers: ConnectionHandlers = {
        onFrame: (frame) => events.push(decoder.decode(frame)),
        onClose: (reason) => events.push(`close: ${reason}`),
      }
      await listener.start((connection) => connection.setHandlers(handlers))
      const dialer = simulator.createTransport()
      const connection = await dialer.connect(listener.address)
      for (const text of ['a', 'b', 'c']) connection.send(encoder.encode(text))
      connection.close('done')
      await waitFor(() => events.length === 4, 10_000, 'frames and close')
      assert.deepEqual(events, ['a', 'b', 'c', 'close: done'])
    }))

  it('counts queued, undelivered bytes in bufferedAmount', () =>
    withSimulator(new Simulator({ latency: constantLatency(20) }), async (simulator) => {
      const { dialerEnd, acceptorRecorder, acceptorEnd } = await connectPair(simulator)
      for (let index = 0; index < 3; index++) dialerEnd.send(new Uint8Array(100))
      assert.equal(dialerEnd.bufferedAmount, 300)
      assert.equal(acceptorEnd.bufferedAmount, 0, 'the other direction is counted apart')
      await acceptorRecorder.untilFrames(3)
      assert.equal(dialerEnd.bufferedAmount, 0)
    }))

  it('makes a stopped transport undialable', () =>
    withSimulator(new Simulator(), async (simulator) => {
      const { dialer, listener } = await connectPair(simulator)
      await listener.stop()
      await assert.rejects(dialer.connect(listener.address), isNetworkError('CONNECTION_FAILED'))
    }))

  it('rejects addresses that are not sim:// with INVALID_ADDRESS', () =>
    withSimulator(new Simulator(), async (simulator) => {
      const dialer = simulator.createTransport()
      await assert.rejects(dialer.connect('ws://127.0.0.1:30301'), isNetworkError('INVALID_ADDRESS'))
    }))

  it('rejects with ABORTED when the signal aborts while dialing', () =>
    withSimulator(new Simulator({ latency: constantLatency(60_000) }), async (simulator) => {
      const listener = simulator.createTransport()
      await listener.start(() => {})
      const controller = new AbortController()
      const dialing = simulator.createTransport().connect(listener.address, controller.signal)
      controller.abort()
      await assert.rejects(dialing, isNetworkError('ABORTED'))
    }))

  it('stop() ends every open connection with one onClose and fails dials in flight', async () => {
    const simulator = new Simulator({ latency: constantLatency(50) })
    const pairs = [await connectPair(simulator), await connectPair(simulator)]
    const lateListener = simulator.createTransport()
    await lateListener.start(() => {})
    const dialing = simulator.createTransport().connect(lateListener.address)
    // Closed locally, so its onClose is still queued when the simulator stops.
    pairs[0]?.dialerEnd.close('closing while stopping')

    simulator.stop()
    const recorders = pairs.flatMap(({ dialerRecorder, acceptorRecorder }) => [dialerRecorder, acceptorRecorder])
    assert.deepEqual(
      recorders.map((recorder) => recorder.closeReasons),
      [['closing while stopping'], ['simulator stopped'], ['simulator stopped'], ['simulator stopped']],
    )
    await assert.rejects(dialing, isNetworkError('CONNECTION_FAILED'))
    assert.throws(() => simulator.createTransport(), isNetworkError('INVALID_STATE'))
  })

  it('regionLatency returns half the round trip between deterministically assigned regions', () => {
    const matrix = [
      [10, 100],
      [100, 20],
    ]
    const addresses = Array.from({ length: 64 }, (_, index) => `sim://${index + 1}`)
    const pairsOf = (latency: LatencyModel): number[] =>
      addresses.flatMap((from) => addresses.map((to) => latency(from, to)))

    const latencies = pairsOf(regionLatency(matrix, { seed: 9 }))
    assert.deepEqual(new Set(latencies), new Set([5, 10, 50]))
    assert.deepEqual(pairsOf(regionLatency(matrix, { seed: 9 })), latencies)
    assert.notDeepEqual(pairsOf(regionLatency(matrix, { seed: 10 })), latencies)

    const jittered = pairsOf(regionLatency(matrix, { seed: 9, jitterMs: 2 }))
    jittered.forEach((value, index) => {
      const base = latencies[index] ?? Number.NaN
      assert.ok(value >= base && value < base + 2, `${value} within [${base}, ${base + 2})`)
    })
    assert.deepEqual(pairsOf(regionLatency(matrix, { seed: 9, jitterMs: 2 })), jittered)
    assert.throws(() => regionLatency([[1, 2]], { seed: 1 }), isNetworkError('INVALID_OPTIONS'))
  })

  it('regionLatency spreads addresses over every region of the shared RTT matrix', async () => {
    const { regions, rtt } = JSON.parse(await readFile(RTT_DATA_URL, 'utf8')) as {
      regions: string[]
      rtt: number[][]
    }
    assert.equal(rtt.length, regions.length)
    const latency = regionLatency(rtt, { seed: 11 })
    // The diagonal entries all differ, so an address's latency to itself names its region.
    const ownRegionLatencies = rtt.map((row, region) => (row[region] ?? Number.NaN) / 2)
    const seen = new Set<number>()
    for (let index = 1; index <= 1_000; index++) {
      const address = `sim://${index}`
      const region = ownRegionLatencies.indexOf(latency(address, address))
      assert.ok(region >= 0, `${address} maps onto the diagonal`)
      seen.add(region)
    }
    assert.equal(seen.size, regions.length)
    const [a, b] = ['sim://1', 'sim://2'].map((address) => ownRegionLatencies.indexOf(latency(address, address)))
    assert.equal(latency('sim://1', 'sim://2'), (rtt[a ?? -1]?.[b ?? -1] ?? Number.NaN) / 2)
  })

  it('carries 100,000 frames over 8,000 connections between 2,000 transports', { timeout: SCALE_TIMEOUT_MS }, () => {
    const latency = regionLatency(
      [
        [2, 30, 60],
        [30, 2, 40],
        [60, 40, 2],
      ],
      { seed: 42, jitterMs: 1 },
    )
    return withSimulator(new Simulator({ seed: 42, latency }), async (simulator) => {
      const transportCount = 2_000
      const connectionCount = 8_000
      const frameCount = 100_000
      let received = 0
      const counting: ConnectionHandlers = { onFrame: () => received++, onClose: ignoreClose }
      const accepted: TransportConnection[] = []
      const transports = Array.from({ length: transportCount }, () => simulator.createTransport())
      await Promise.all(
        transports.map((transport) =>
          transport.start((connection) => {
            connection.setHandlers(counting)
            accepted.push(connection)
          }),
        ),
      )
      const random = new SeededRandom(42)
      const dialed = await Promise.all(
        Array.from({ length: connectionCount }, (_, index) => {
          const from = index % transportCount
          const to = (from + 1 + random.nextInt(transportCount - 1)) % transportCount
          return transports[from]?.connect(transports[to]?.address ?? '') ?? Promise.reject(new Error('no transport'))
        }),
      )
      for (const connection of dialed) connection.setHandlers(counting)
      assert.equal(accepted.length, connectionCount)

      const ends = [...dialed, ...accepted]
      const frame = new Uint8Array(64)
      for (let index = 0; index < frameCount; index++) ends[index % ends.length]?.send(frame)
      await waitFor(() => received === frameCount, SCALE_TIMEOUT_MS, `${frameCount} frames`)

      const stats = simulator.stats
      assert.equal(stats.framesSent, frameCount)
      assert.equal(stats.framesDelivered, frameCount)
      assert.equal(stats.framesLost, 0)
      assert.equal(stats.bytesSent, frameCount * frame.byteLength)
    })
  })
})

describe('Simulator on virtual time', () => {
  it('delivers each frame at exactly its latency on the clock, and only when driven', async () => {
    const clock = new ManualClock(1_000)
    const latency: LatencyModel = (from) => (from === 'sim://2' ? 30 : 5)
    await withSimulator(new Simulator({ latency, clock }), async (simulator) => {
      const arrivals: string[] = []
      const listener = simulator.createTransport()
      await listener.start((connection) =>
        connection.setHandlers({
          onFrame: (frame) => arrivals.push(`${decoder.decode(frame)} at ${clock.now()}`),
          onClose: ignoreClose,
        }),
      )
      const dialer = simulator.createTransport()
      let connection: TransportConnection | undefined
      void dialer.connect(listener.address).then((value) => (connection = value))
      await simulator.runUntil(() => connection !== undefined, { pollMs: 0 })
      assert.equal(clock.now(), 1_030, 'the dial took one 30 ms hop')
      connection!.send(encoder.encode('a'))
      connection!.send(encoder.encode('b'))
      assert.deepEqual(arrivals, [], 'nothing moves until the clock is driven')
      await simulator.runFor(29)
      assert.deepEqual(arrivals, [])
      await simulator.runFor(1)
      assert.deepEqual(arrivals, ['a at 1060', 'b at 1060'])
    })
  })

  it('refuses runUntil and runFor on the wall clock with INVALID_STATE', () =>
    withSimulator(new Simulator(), (simulator) => {
      assert.throws(() => void simulator.runUntil(() => true), isNetworkError('INVALID_STATE'))
      assert.throws(() => void simulator.runFor(1), isNetworkError('INVALID_STATE'))
      return Promise.resolve()
    }))
})
