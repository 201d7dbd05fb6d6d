import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { after, afterEach, before, describe, it } from 'node:test'
import { NetworkError } from '../../src/errors.js'
import type { ConnectionHandlers, Transport, TransportConnection } from '../../src/transport/Transport.js'

/** What a transport implementation provides to run {@link describeTransportCompliance}. */
export interface TransportFixture {
  /** A fresh transport; the suite starts and stops it. Listening transports must use 127.0.0.1 only. */
  createTransport(): Transport
  /** An address of this transport's kind where nothing listens. */
  unreachableAddress: string
  /** Releases whatever the fixture holds once the suite is done. */
  cleanup(): Promise<void>
}

/** Long enough for a loaded CI machine; tests wait on events, so passing runs never wait this long. */
const EVENT_TIMEOUT_MS = 15_000
/**
 * How long to keep watching before concluding that something did not happen
 * (a second onClose, a frame after close). Only negative checks use it.
 */
const QUIET_PERIOD_MS = 100

/**
 * Resolves once `predicate` holds, checking every few milliseconds; rejects
 * with `description` after `timeoutMs`.
 *
 * @example
 * ```ts
 * await waitFor(() => received.length === 1_000, 10_000, 'all frames')
 * ```
 */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = EVENT_TIMEOUT_MS,
  description = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`)
    await delay(5)
  }
}

/** Wakes waiters whenever something it watches changes. */
class Observable {
  private readonly waiters = new Set<() => void>()

  /** Resolves as soon as `predicate` holds after a change; rejects after `timeoutMs`. */
  until(predicate: () => boolean, description: string, timeoutMs = EVENT_TIMEOUT_MS): Promise<void> {
    if (predicate()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description} (${this.describe()})`))
      }, timeoutMs)
      this.waiters.add(check)
    })
  }

  protected changed(): void {
    for (const waiter of [...this.waiters]) waiter()
  }

  protected describe(): string {
    return 'no change seen'
  }
}

/**
 * Handlers that remember every frame and close, and let a test wait for them.
 *
 * @example
 * ```ts
 * const recorder = new ConnectionRecorder()
 * connection.setHandlers(recorder)
 * await recorder.untilFrames(3)
 * ```
 */
export class ConnectionRecorder extends Observable implements ConnectionHandlers {
  readonly frames: Uint8Array[] = []
  readonly closeReasons: string[] = []

  onFrame(frame: Uint8Array): void {
    this.frames.push(frame)
    this.changed()
  }

  onClose(reason: string): void {
    this.closeReasons.push(reason)
    this.changed()
  }

  untilFrames(count: number): Promise<void> {
    return this.until(() => this.frames.length >= count, `${count} frames`)
  }

  untilClosed(): Promise<void> {
    return this.until(() => this.closeReasons.length > 0, 'onClose')
  }

  protected override describe(): string {
    return `${this.frames.length} frames, ${this.closeReasons.length} closes so far`
  }
}

interface AcceptedConnection {
  connection: TransportConnection
  /** Attached on accept, unless the listener was told to hold off. */
  recorder: ConnectionRecorder
}

/** A started listening transport that records what it accepts. */
class Listener extends Observable {
  readonly accepted: AcceptedConnection[] = []
  address = ''

  constructor(
    readonly transport: Transport,
    private readonly attachOnAccept: boolean,
  ) {
    super()
  }

  async start(): Promise<this> {
    const addresses = await this.transport.start((connection) => {
      const recorder = new ConnectionRecorder()
      if (this.attachOnAccept) connection.setHandlers(recorder)
      this.accepted.push({ connection, recorder })
      this.changed()
    })
    const [address] = addresses
    assert.ok(address !== undefined, 'a listening transport returns at least one address from start()')
    this.address = address
    return this
  }

  async nextAccepted(index: number): Promise<AcceptedConnection> {
    await this.until(() => this.accepted.length > index, `accepted connection #${index + 1}`)
    const accepted = this.accepted[index]
    assert.ok(accepted !== undefined)
    return accepted
  }

  protected override describe(): string {
    return `${this.accepted.length} connections accepted so far`
  }
}

function assertSameBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  assert.ok(actual !== undefined, `${what}: missing`)
  assert.equal(actual.byteLength, expected.byteLength, `${what}: length`)
  // Compared as Buffers: a transport may hand over a Buffer, and deepEqual would fail on the prototype alone.
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)
  assert.ok(same, `${what}: contents differ`)
}

function randomFrame(byteLength: number): Uint8Array {
  return new Uint8Array(randomBytes(byteLength))
}

/** A frame carrying `index`, padded to a varying size so frame boundaries matter. */
function indexedFrame(index: number): Uint8Array {
  const frame = new Uint8Array(4 + (index % 37))
  new DataView(frame.buffer).setUint32(0, index)
  return frame
}

function indexOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0)
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/**
 * The behaviour every {@link Transport} must show, as one `node:test` suite.
 *
 * @example
 * ```ts
 * describeTransportCompliance('websocket', () =>
 *   Promise.resolve({
 *     createTransport: () => new WebSocketTransport({ host: '127.0.0.1', port: 0 }),
 *     unreachableAddress: 'ws://127.0.0.1:1',
 *     cleanup: () => Promise.resolve(),
 *   }),
 * )
 * ```
 */
export function describeTransportCompliance(name: string, createFixture: () => Promise<TransportFixture>): void {
  describe(`${name} transport compliance`, () => {
    let fixture: TransportFixture | undefined
    const started: Transport[] = []

    before(async () => {
      fixture = await createFixture()
    })

    afterEach(async () => {
      await Promise.all(started.splice(0).map((transport) => transport.stop()))
    })

    after(async () => {
      await fixture?.cleanup()
    })

    function useFixture(): TransportFixture {
      assert.ok(fixture !== undefined, 'fixture was created')
      return fixture
    }

    async function startListener(options: { attachOnAccept: boolean } = { attachOnAccept: true }): Promise<Listener> {
      const transport = useFixture().createTransport()
      started.push(transport)
      return new Listener(transport, options.attachOnAccept).start()
    }

    async function startDialer(): Promise<Transport> {
      const transport = useFixture().createTransport()
      started.push(transport)
      await transport.start(() => {})
      return transport
    }

    async function connectPair(): Promise<{
      dialer: Transport
      listener: Listener
      dialerEnd: TransportConnection
      dialerRecorder: ConnectionRecorder
      acceptorEnd: TransportConnection
      acceptorRecorder: ConnectionRecorder
    }> {
      const listener = await startListener()
      const dialer = await startDialer()
      const dialerEnd = await dialer.connect(listener.address, AbortSignal.timeout(EVENT_TIMEOUT_MS))
      const dialerRecorder = new ConnectionRecorder()
      dialerEnd.setHandlers(dialerRecorder)
      const { connection: acceptorEnd, recorder: acceptorRecorder } = await listener.nextAccepted(0)
      return { dialer, listener, dialerEnd, dialerRecorder, acceptorEnd, acceptorRecorder }
    }

    it('carries frames both ways byte for byte, including empty, 1-byte, 64 KiB and 1 MiB frames', async () => {
      const { dialerEnd, dialerRecorder, acceptorEnd, acceptorRecorder } = await connectPair()
      const sizes = [0, 1, 64 * 1024, 1024 * 1024]
      const toAcceptor = sizes.map(randomFrame)
      const toDialer = sizes.map(randomFrame)
      for (const frame of toAcceptor) dialerEnd.send(frame)
      for (const frame of toDialer) acceptorEnd.send(frame)

      await Promise.all([acceptorRecorder.untilFrames(sizes.length), dialerRecorder.untilFrames(sizes.length)])
      assert.equal(acceptorRecorder.frames.length, sizes.length)
      assert.equal(dialerRecorder.frames.length, sizes.length)
      toAcceptor.forEach((frame, index) =>
        assertSameBytes(acceptorRecorder.frames[index], frame, `to acceptor #${index}`),
      )
      toDialer.forEach((frame, index) => assertSameBytes(dialerRecorder.frames[index], frame, `to dialer #${index}`))
    })

    it('delivers 1,000 frames in the order they were sent, in each direction', async () => {
      const { dialerEnd, dialerRecorder, acceptorEnd, acceptorRecorder } = await connectPair()
      const count = 1_000
      for (let index = 0; index < count; index++) {
        dialerEnd.send(indexedFrame(index))
        acceptorEnd.send(indexedFrame(index))
      }

      await Promise.all([acceptorRecorder.untilFrames(count), dialerRecorder.untilFrames(count)])
      const expected = Array.from({ length: count }, (_, index) => index)
      assert.deepEqual(acceptorRecorder.frames.map(indexOf), expected)
      assert.deepEqual(dialerRecorder.frames.map(indexOf), expected)
    })

    it('keeps frames that arrive before the receiving end sets its handlers', async () => {
      const count = 20
      const acceptedEnds: TransportConnection[] = []
      const transport = useFixture().createTransport()
      started.push(transport)
      // The acceptor greets straight from onConnection, before the dialer has its connection and handlers.
      const [address] = await transport.start((connection) => {
        for (let index = 0; index < count; index++) connection.send(indexedFrame(index))
        acceptedEnds.push(connection)
      })
      assert.ok(address !== undefined)
      const dialer = await startDialer()
      const dialerEnd = await dialer.connect(address, AbortSignal.timeout(EVENT_TIMEOUT_MS))
      for (let index = 0; index < count; index++) dialerEnd.send(indexedFrame(index))
      // Gives the frames time to arrive while neither side has handlers; the assertions below don't rely on it.
      await delay(QUIET_PERIOD_MS)
      await waitFor(() => acceptedEnds.length === 1, EVENT_TIMEOUT_MS, 'the accepted connection')
      const acceptorEnd = acceptedEnds[0]
      assert.ok(acceptorEnd !== undefined)

      const dialerRecorder = new ConnectionRecorder()
      const acceptorRecorder = new ConnectionRecorder()
      dialerEnd.setHandlers(dialerRecorder)
      acceptorEnd.setHandlers(acceptorRecorder)

      await Promise.all([dialerRecorder.untilFrames(count), acceptorRecorder.untilFrames(count)])
      const expected = Array.from({ length: count }, (_, index) => index)
      assert.deepEqual(dialerRecorder.frames.map(indexOf), expected)
      assert.deepEqual(acceptorRecorder.frames.map(indexOf), expected)
    })

    for (const closingSide of ['dialer', 'acceptor'] as const) {
      it(`closing from the ${closingSide} ends both sides with exactly one onClose each`, async () => {
        const { dialerEnd, dialerRecorder, acceptorEnd, acceptorRecorder } = await connectPair()
        const closingEnd = closingSide === 'dialer' ? dialerEnd : acceptorEnd
        closingEnd.close('test is done')
        closingEnd.close('closed twice on purpose')

        await Promise.all([dialerRecorder.untilClosed(), acceptorRecorder.untilClosed()])
        await delay(QUIET_PERIOD_MS)
        assert.equal(dialerRecorder.closeReasons.length, 1, 'dialer onClose calls')
        assert.equal(acceptorRecorder.closeReasons.length, 1, 'acceptor onClose calls')
      })
    }

    it('closing both ends at once still gives each end exactly one onClose', async () => {
      const { dialerEnd, dialerRecorder, acceptorEnd, acceptorRecorder } = await connectPair()
      dialerEnd.close('dialer is done')
      acceptorEnd.close('acceptor is done')

      await Promise.all([dialerRecorder.untilClosed(), acceptorRecorder.untilClosed()])
      await delay(QUIET_PERIOD_MS)
      assert.equal(dialerRecorder.closeReasons.length, 1, 'dialer onClose calls')
      assert.equal(acceptorRecorder.closeReasons.length, 1, 'acceptor onClose calls')
    })

    it('sending after close neither throws nor delivers, on either end', async () => {
      const { dialerEnd, dialerRecorder, acceptorEnd, acceptorRecorder } = await connectPair()
      dialerEnd.close()
      assert.doesNotThrow(() => dialerEnd.send(encoder.encode('after local close')))

      await acceptorRecorder.untilClosed()
      assert.doesNotThrow(() => acceptorEnd.send(encoder.encode('after remote close')))
      await dialerRecorder.untilClosed()
      await delay(QUIET_PERIOD_MS)
      assert.deepEqual(acceptorRecorder.frames, [])
      assert.deepEqual(dialerRecorder.frames, [])
    })

    it('rejects dialing an unreachable address with CONNECTION_FAILED', async () => {
      const dialer = await startDialer()
      await assert.rejects(
        dialer.connect(useFixture().unreachableAddress, AbortSignal.timeout(EVENT_TIMEOUT_MS)),
        (err) => err instanceof NetworkError && err.code === 'CONNECTION_FAILED',
      )
    })

    it('rejects dialing with an already aborted signal with ABORTED', async () => {
      const listener = await startListener()
      const dialer = await startDialer()
      await assert.rejects(
        dialer.connect(listener.address, AbortSignal.abort(new Error('caller gave up'))),
        (err) => err instanceof NetworkError && err.code === 'ABORTED',
      )
    })

    it('stop() closes every connection of the transport and the remote ends see onClose', async () => {
      const listener = await startListener()
      const dialers = [await startDialer(), await startDialer()]
      const dialerRecorders: ConnectionRecorder[] = []
      for (const dialer of [...dialers, ...dialers]) {
        const connection = await dialer.connect(listener.address, AbortSignal.timeout(EVENT_TIMEOUT_MS))
        const recorder = new ConnectionRecorder()
        connection.setHandlers(recorder)
        dialerRecorders.push(recorder)
      }
      await listener.until(() => listener.accepted.length === dialerRecorders.length, 'all connections accepted')

      started.splice(started.indexOf(listener.transport), 1)
      await listener.transport.stop()
      await Promise.all(dialerRecorders.map((recorder) => recorder.untilClosed()))
      await Promise.all(listener.accepted.map(({ recorder }) => recorder.untilClosed()))
      await delay(QUIET_PERIOD_MS)
      for (const recorder of [...dialerRecorders, ...listener.accepted.map((accepted) => accepted.recorder)]) {
        assert.equal(recorder.closeReasons.length, 1)
      }
    })

    it('50 concurrent connections to one listener each carry their own frames', async () => {
      const connectionCount = 50
      const framesPerConnection = 20
      const listener = await startListener()
      const dialers = await Promise.all(Array.from({ length: 5 }, () => startDialer()))
      const dialerEnds = await Promise.all(
        Array.from({ length: connectionCount }, (_, index) => {
          const dialer = dialers[index % dialers.length]
          assert.ok(dialer !== undefined)
          return dialer.connect(listener.address, AbortSignal.timeout(EVENT_TIMEOUT_MS))
        }),
      )
      const dialerRecorders = dialerEnds.map((connection) => {
        const recorder = new ConnectionRecorder()
        connection.setHandlers(recorder)
        return recorder
      })
      dialerEnds.forEach((connection, index) => {
        for (let frame = 0; frame < framesPerConnection; frame++) connection.send(encoder.encode(`${index}/${frame}`))
      })
      await listener.until(() => listener.accepted.length === connectionCount, 'all connections accepted')
      await Promise.all(listener.accepted.map(({ recorder }) => recorder.untilFrames(framesPerConnection)))

      const seen = new Set<string>()
      for (const { connection, recorder } of listener.accepted) {
        const texts = recorder.frames.map((frame) => decoder.decode(frame))
        const owner = texts[0]?.split('/')[0] ?? ''
        const expected = Array.from({ length: framesPerConnection }, (_, frame) => `${owner}/${frame}`)
        assert.deepEqual(
          texts,
          expected,
          'each accepted connection carries the frames of exactly one dialer connection',
        )
        assert.ok(!seen.has(owner), `dialer connection ${owner} showed up on two accepted connections`)
        seen.add(owner)
        connection.send(encoder.encode(`reply to ${owner}`))
      }
      assert.equal(seen.size, connectionCount)

      await Promise.all(dialerRecorders.map((recorder) => recorder.untilFrames(1)))
      dialerRecorders.forEach((recorder, index) => {
        assert.deepEqual(
          recorder.frames.map((frame) => decoder.decode(frame)),
          [`reply to ${index}`],
        )
      })
    })
  })
}
