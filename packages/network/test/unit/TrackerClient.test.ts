import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create } from '@bufbuild/protobuf'
import { ManualClock, addressFromBytes, toStreamId, toStreamPartId, type StreamPartId } from '@runnel/protocol'
import { SignedTrackerRequestSchema, TrackerAction } from '../../src/generated/runnel/network/v1/network_pb.js'
import type { NodeId } from '../../src/identity.js'
import { silentLogger, type LogFields } from '../../src/logger.js'
import {
  TrackerClient,
  type StreamPartStatus,
  type TrackerConnection,
  type TrackerDialer,
} from '../../src/tracker/TrackerClient.js'
import { openTrackerRequest } from '../../src/tracker/trackerRequests.js'
import { newSigner, verifier } from '../helpers.js'

const TRACKER = 'ws://tracker.test'
const RETRY_MS = 2_000

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[19] = index
  return addressFromBytes(bytes)
}

const trackerId = nodeId(50)

interface Report {
  readonly streamPartId: string
  readonly action: 'status' | 'leave'
  readonly wanted: number
  readonly sequence: bigint
}

/** A tracker that records the reports it is sent, reached through a dialer that can be made to fail. */
class Harness {
  readonly clock = new ManualClock(1_000)
  readonly signer = newSigner()
  readonly reports: Report[] = []
  readonly warnings: { message: string; fields: LogFields | undefined }[] = []
  readonly statuses = new Map<StreamPartId, StreamPartStatus>()
  unreachable = false
  /** Dials made, failed or not. */
  attempts = 0
  readonly client: TrackerClient

  constructor(random?: () => number) {
    const tracker: TrackerConnection = {
      peerId: trackerId,
      sendControl: (body) => {
        if (body?.case !== 'trackerRequest') return false
        const opened = openTrackerRequest(verifier, create(SignedTrackerRequestSchema, body.value))
        assert.ok(opened !== undefined, 'reports are signed by the node')
        const { request } = opened
        this.reports.push({
          streamPartId: request.streamPartId,
          action: request.action === TrackerAction.LEAVE ? 'leave' : 'status',
          wanted: request.wanted,
          sequence: request.sequence,
        })
        return true
      },
    }
    const connections: TrackerDialer = {
      connect: () => {
        this.attempts++
        return this.unreachable ? Promise.reject(new Error('connection refused')) : Promise.resolve(tracker)
      },
    }
    this.client = new TrackerClient(
      {
        connections,
        signer: this.signer,
        clock: this.clock,
        logger: { ...silentLogger, warn: (message, fields) => this.warnings.push({ message, fields }) },
        statusOf: (streamPartId) => this.statuses.get(streamPartId),
        streamParts: () => this.statuses.keys(),
        random,
      },
      { trackers: [TRACKER], statusRetryMs: RETRY_MS },
    )
  }

  join(path: string, wanted: number): StreamPartId {
    const streamPartId = toStreamPartId(toStreamId(nodeId(60), path), 0)
    this.statuses.set(streamPartId, { neighborIds: [], wanted })
    return streamPartId
  }

  /** Lets queued reports (dial, sign, send) finish. */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  }
}

describe('TrackerClient: status reporting', () => {
  it('reports a stream part at once, signed, with increasing sequence numbers', async () => {
    const harness = new Harness()
    harness.client.start()
    const first = harness.join('/a', 3)
    const second = harness.join('/b', 1)
    harness.client.reportStatus(first)
    harness.client.reportStatus(second)
    await harness.settle()
    assert.deepEqual(
      harness.reports.map(({ streamPartId, wanted, sequence }) => [streamPartId, wanted, sequence]),
      [
        [first, 3, 1n],
        [second, 1, 2n],
      ],
    )
    assert.equal(harness.client.isTrackerFor(first, trackerId), true)
    assert.equal(harness.client.isTracker(trackerId), true)
    harness.client.stop()
  })

  it('coalesces a burst of changes into one report', async () => {
    const harness = new Harness()
    harness.client.start()
    const streamPartId = harness.join('/a', 2)
    for (let i = 0; i < 5; i++) harness.client.scheduleStatus(streamPartId)
    assert.equal(harness.clock.advance(9), 0)
    assert.equal(harness.clock.advance(1), 1)
    await harness.settle()
    assert.equal(harness.reports.length, 1)
    harness.client.stop()
  })

  it('asks again every statusRetryMs for stream parts short of neighbours only', async () => {
    const harness = new Harness()
    harness.client.start()
    const short = harness.join('/short', 2)
    harness.join('/settled', 0)
    harness.clock.advance(RETRY_MS)
    await harness.settle()
    harness.clock.advance(RETRY_MS)
    await harness.settle()
    assert.deepEqual(
      harness.reports.map(({ streamPartId }) => streamPartId),
      [short, short],
    )
    harness.client.stop()
  })

  it('reports nothing before start or after stop, and stop cancels reports due', async () => {
    const harness = new Harness()
    const streamPartId = harness.join('/a', 2)
    harness.client.reportStatus(streamPartId)
    harness.client.scheduleStatus(streamPartId)
    harness.client.start()
    harness.client.scheduleStatus(streamPartId)
    harness.client.stop()
    harness.client.reportLeave(streamPartId)
    harness.clock.advance(10 * RETRY_MS)
    await harness.settle()
    assert.deepEqual(harness.reports, [])
    assert.equal(harness.clock.pendingTimers, 0)
  })

  it('a leave replaces a report still due', async () => {
    const harness = new Harness()
    harness.client.start()
    const streamPartId = harness.join('/a', 2)
    harness.client.scheduleStatus(streamPartId)
    harness.statuses.delete(streamPartId)
    harness.client.reportLeave(streamPartId)
    harness.clock.advance(RETRY_MS)
    await harness.settle()
    assert.deepEqual(
      harness.reports.map(({ action }) => action),
      ['leave'],
    )
    harness.client.stop()
  })

  it("re-registers a closed tracker's stream parts within statusRetryMs, at a jittered moment", async () => {
    // The delay was exactly statusRetryMs before issue 17; it is now uniform in [0, statusRetryMs) so that every
    // node of a restarted tracker does not reconnect in the same instant.
    const harness = new Harness(() => 0.5)
    harness.client.start()
    const streamPartId = harness.join('/a', 0)
    harness.client.reportStatus(streamPartId)
    await harness.settle()
    harness.client.handleTrackerClosed(trackerId)
    harness.clock.advance(RETRY_MS / 2 - 1)
    await harness.settle()
    assert.equal(harness.reports.length, 1)
    harness.clock.advance(1)
    await harness.settle()
    assert.equal(harness.reports.length, 2)
    harness.client.stop()
  })

  it('backs off exponentially while the tracker stays down, and starts over once it is back', async () => {
    const harness = new Harness(() => 0.999)
    harness.client.start()
    const streamPartId = harness.join('/a', 0)
    harness.client.reportStatus(streamPartId)
    await harness.settle()
    harness.unreachable = true
    harness.client.handleTrackerClosed(trackerId)
    // Windows 2, 4, 8, 16 s: each attempt comes just before its window ends, and fails.
    const attemptsAt: number[] = []
    const start = harness.clock.now()
    for (let second = 0; second < 31; second++) {
      const before = harness.attempts
      harness.clock.advance(1_000)
      await harness.settle()
      if (harness.attempts > before) attemptsAt.push(Math.round((harness.clock.now() - start) / 1_000))
    }
    assert.deepEqual(attemptsAt, [2, 6, 14, 30])
    assert.ok(harness.client.isReconnecting(TRACKER))
    harness.unreachable = false
    harness.clock.advance(32_000)
    await harness.settle()
    assert.equal(harness.reports.length, 2, 're-registered once the tracker answered')
    assert.equal(harness.client.isReconnecting(TRACKER), false)
    const attempts = harness.attempts
    harness.clock.advance(120_000)
    await harness.settle()
    assert.equal(harness.attempts, attempts, 'no more attempts once through')
    harness.client.stop()
  })

  it('logs a failed report as a warning and keeps reporting', async () => {
    const harness = new Harness()
    harness.client.start()
    const streamPartId = harness.join('/a', 1)
    harness.unreachable = true
    harness.client.reportStatus(streamPartId)
    await harness.settle()
    assert.equal(harness.warnings.length, 1)
    assert.equal(harness.warnings[0]!.fields?.['streamPartId'], streamPartId)
    assert.equal(harness.warnings[0]!.fields?.['error'], 'connection refused')
    harness.unreachable = false
    harness.clock.advance(RETRY_MS)
    await harness.settle()
    assert.equal(harness.reports.length, 1)
    harness.client.stop()
  })
})
