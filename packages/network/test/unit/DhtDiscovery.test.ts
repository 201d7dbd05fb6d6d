import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock, addressFromBytes, addressToBytes, toStreamId, toStreamPartId } from '@runnel/protocol'

const bytesToHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
import { DhtDiscovery, type DiscoveryDht } from '../../src/discovery/DhtDiscovery.js'
import { dhtKeyOfStreamPart as entryPointKey } from '../../src/dht/keys.js'
import { DEFAULT_ENTRY_POINT_TIMING, encodeEntryPoint, type EntryPointRecord } from '../../src/discovery/entryPoints.js'
import { descriptorToProto, type NodeDescriptor, type NodeId } from '../../src/identity.js'
import { silentLogger } from '../../src/logger.js'
import { StreamPartOverlay } from '../../src/overlay/StreamPartOverlay.js'
import { NETWORK_PROTOCOL_VERSION } from '../../src/wire/frames.js'

const RETRY_MS = 2_000
const TARGET_DEGREE = 4
const { ttlMs, refreshMs } = DEFAULT_ENTRY_POINT_TIMING
const streamPartId = toStreamPartId(toStreamId(addressFromBytes(new Uint8Array(20).fill(7)), '/discovery'), 0)
const key = bytesToHex(entryPointKey(streamPartId))

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[0] = index >> 8
  bytes[1] = index & 0xff
  return addressFromBytes(bytes)
}

function descriptorOf(id: NodeId, kind: 'full' | 'light' = 'full'): NodeDescriptor {
  return {
    nodeId: id,
    kind,
    addresses: kind === 'full' ? [`test://${id}`] : [],
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }
}

/** The records of a DHT as one table: what the real DHT's lookups return once they converge. */
class RecordTable {
  readonly clock = new ManualClock(1_000_000)
  /** Key (hex) → owner → record. */
  readonly records = new Map<string, Map<NodeId, EntryPointRecord>>()

  put(keyHex: string, record: EntryPointRecord): void {
    let byOwner = this.records.get(keyHex)
    if (byOwner === undefined) this.records.set(keyHex, (byOwner = new Map<NodeId, EntryPointRecord>()))
    byOwner.set(record.owner, record)
  }

  live(keyHex: string): EntryPointRecord[] {
    const now = this.clock.now()
    return [...(this.records.get(keyHex)?.values() ?? [])].filter((record) => record.expiresAt > now)
  }
}

/** One node's discovery over the shared table, with what it asked recorded. */
class TestNode {
  readonly overlays = new Map<typeof streamPartId, StreamPartOverlay>()
  readonly asked: NodeId[] = []
  /** Signal routes noted: target, through whom. */
  readonly routes: [NodeId, NodeId][] = []
  readonly discovery: DhtDiscovery
  readonly descriptor: NodeDescriptor
  lookups = 0

  constructor(
    readonly table: RecordTable,
    readonly id: NodeId,
    readonly kind: 'full' | 'light' = 'full',
  ) {
    this.descriptor = descriptorOf(id, kind)
    const dht: DiscoveryDht = {
      start: () => Promise.resolve(),
      stop: () => undefined,
      handleControl: () => false,
      handlePeerReady: () => undefined,
      handlePeerClosed: () => undefined,
      storeRecord: (recordKey, value, ttl) => {
        table.put(bytesToHex(recordKey), { owner: id, value, expiresAt: table.clock.now() + ttl })
        return Promise.resolve(1)
      },
      findRecords: (recordKey) => {
        this.lookups++
        return Promise.resolve(table.live(bytesToHex(recordKey)))
      },
    }
    let seed = Number.parseInt(id.slice(-4), 16) + 1
    this.discovery = new DhtDiscovery(
      {
        dht,
        nodeId: id,
        kind,
        overlays: this.overlays,
        wanted: (overlay) =>
          Math.max(0, (kind === 'light' ? 2 : TARGET_DEGREE) - overlay.neighbors.size - overlay.pendingNeighbors.size),
        request: (overlay, candidates, limit) => {
          for (const candidate of candidates.slice(0, limit)) {
            overlay.pendingNeighbors.add(candidate.nodeId)
            this.asked.push(candidate.nodeId)
          }
        },
        descriptorOf: (peerId) => descriptorOf(peerId),
        noteRoute: (targetId, viaPeerId) => this.routes.push([targetId, viaPeerId]),
        localDescriptor: () => this.descriptor,
        clock: table.clock,
        logger: silentLogger,
        random: () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646,
      },
      { statusRetryMs: RETRY_MS },
    )
  }

  async join(): Promise<StreamPartOverlay> {
    const overlay = new StreamPartOverlay(
      streamPartId,
      { propagationWindowMs: 10_000, propagationBufferSize: 16, duplicateWindowSize: 16 },
      () => this.table.clock.now(),
    )
    this.overlays.set(streamPartId, overlay)
    this.discovery.start()
    await this.discovery.bootstrap()
    this.discovery.reportStatus(streamPartId)
    await settle()
    return overlay
  }

  /** A pending request was refused (as OverlayControl reports it). */
  refuse(peerId: NodeId, alternatives: NodeDescriptor[] = []): void {
    const overlay = this.overlays.get(streamPartId)!
    overlay.pendingNeighbors.delete(peerId)
    this.discovery.takeAnswer(
      overlay,
      peerId,
      false,
      alternatives.map((descriptor) => ({
        $typeName: 'runnel.network.v1.NodeDescriptor',
        ...descriptorToProto(descriptor),
      })),
    )
  }

  holds(): boolean {
    return this.table.live(key).some((record) => record.owner === this.id)
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Advances virtual time in steps, letting lookups and stores finish in between. */
async function advance(table: RecordTable, ms: number, step = 500): Promise<void> {
  for (let passed = 0; passed < ms; passed += step) {
    table.clock.advance(Math.min(step, ms - passed))
    await settle()
  }
}

describe('DhtDiscovery: entry points', () => {
  it("a stream part's first node finds no one, stores its own record and settles the join", async () => {
    const table = new RecordTable()
    const first = new TestNode(table, nodeId(1))
    const overlay = await first.join()
    assert.deepEqual(first.asked, [])
    assert.ok(first.holds())
    assert.ok(overlay.isSettled(), 'the join settles: no one else is there')
    assert.equal(first.discovery.metrics.entryPointsHeld, 1)
  })

  it('nodes joining at once all find no one, and find each other on the quick second look', async () => {
    const table = new RecordTable()
    const nodes = [1, 2, 3].map((i) => new TestNode(table, nodeId(i)))
    await Promise.all(nodes.map((node) => node.join()))
    assert.ok(nodes.every((node) => node.asked.length === 0 && node.holds()))
    await advance(table, 1_000, 100)
    for (const node of nodes) {
      assert.deepEqual(
        new Set(node.asked),
        new Set(nodes.filter((other) => other !== node).map((other) => other.id)),
        'asks the other two',
      )
    }
  })

  it('a joiner asks half as many live entry points as it wants neighbours (each may split an edge for it), and holds no record when there are enough', async () => {
    const table = new RecordTable()
    const holders = Array.from({ length: 10 }, (_, i) => new TestNode(table, nodeId(i + 1)))
    for (const holder of holders) await holder.join()
    const joiner = new TestNode(table, nodeId(500))
    await joiner.join()
    assert.equal(joiner.asked.length, TARGET_DEGREE / 2)
    assert.ok(joiner.asked.every((id) => holders.some((holder) => holder.id === id)))
    assert.ok(!joiner.holds(), 'eight live entry points are enough')
  })

  it('notes a WebRTC-only owner as reachable through the node that returned its record, and no other owner', async () => {
    const table = new RecordTable()
    const expiresAt = table.clock.now() + ttlMs
    const [rtcOnly, webSocket, storer] = [nodeId(40), nodeId(41), nodeId(42)]
    const rtcDescriptor = { ...descriptorOf(rtcOnly), addresses: [`webrtc:${rtcOnly}`] }
    table.put(key, { owner: rtcOnly, value: encodeEntryPoint(rtcDescriptor), expiresAt, from: storer })
    table.put(key, { owner: webSocket, value: encodeEntryPoint(descriptorOf(webSocket)), expiresAt, from: storer })
    const joiner = new TestNode(table, nodeId(5))
    await joiner.join()
    assert.deepEqual(joiner.routes, [[rtcOnly, storer]])
  })

  it('never asks the node a forged record names, and counts the record', async () => {
    const table = new RecordTable()
    const forger = nodeId(66)
    const victim = descriptorOf(nodeId(77))
    table.put(key, { owner: forger, value: encodeEntryPoint(victim), expiresAt: table.clock.now() + ttlMs })
    table.put(key, { owner: nodeId(88), value: new Uint8Array([1, 2, 3]), expiresAt: table.clock.now() + ttlMs })
    const joiner = new TestNode(table, nodeId(5))
    await joiner.join()
    assert.deepEqual(joiner.asked, [])
    assert.deepEqual(joiner.discovery.metrics.recordsRefused, { 'owner-mismatch': 1, malformed: 1 })
    assert.ok(joiner.holds(), 'forged records are not live entry points')
  })

  it('a holder refreshes its record before it expires; after leaving, it stops and the record lapses', async () => {
    const table = new RecordTable()
    const holder = new TestNode(table, nodeId(1))
    await holder.join()
    await advance(table, 3 * ttlMs)
    assert.ok(holder.holds(), 'refreshed all along')
    holder.discovery.reportLeave(streamPartId)
    holder.overlays.delete(streamPartId)
    await advance(table, ttlMs - refreshMs)
    assert.ok(holder.holds(), 'the last refresh still stands')
    await advance(table, refreshMs + 500)
    assert.ok(!holder.holds(), 'expired')
    assert.equal(holder.discovery.metrics.entryPointsHeld, 0)
    holder.discovery.stop()
  })

  it('a surplus of holders from a burst of joins shrinks to the target within a refresh', async () => {
    const table = new RecordTable()
    const nodes = Array.from({ length: 14 }, (_, i) => new TestNode(table, nodeId(i + 1)))
    await Promise.all(nodes.map((node) => node.join()))
    assert.equal(table.live(key).length, 14)
    // Satisfied nodes only re-check every refresh or so; records of those that stepped down lapse.
    for (const node of nodes) {
      const overlay = node.overlays.get(streamPartId)!
      for (const peerId of [...overlay.pendingNeighbors]) overlay.pendingNeighbors.delete(peerId)
      for (let i = 0; i < TARGET_DEGREE; i++) overlay.neighbors.add(nodeId(1_000 + i))
    }
    await advance(table, 3 * ttlMs)
    const holding = nodes.filter((node) => node.holds()).map((node) => node.id)
    const keyBytes = entryPointKey(streamPartId)
    const distance = (id: NodeId): string => bytesToHex(addressToBytes(id).map((byte, i) => byte ^ keyBytes[i]!))
    const closest = nodes
      .map((node) => node.id)
      .sort((a, b) => distance(a).localeCompare(distance(b)))
      .slice(0, DEFAULT_ENTRY_POINT_TIMING.target)
    assert.deepEqual(new Set(holding), new Set(closest))
    for (const node of nodes) node.discovery.stop()
  })

  it('a light node asks entry points as proxies and never stores a record', async () => {
    const table = new RecordTable()
    const holders = [1, 2, 3].map((i) => new TestNode(table, nodeId(i)))
    for (const holder of holders) await holder.join()
    const light = new TestNode(table, nodeId(9), 'light')
    await light.join()
    assert.equal(light.asked.length, 2)
    assert.ok(!light.holds())
    await advance(table, ttlMs)
    assert.ok(!light.holds())
  })
})

describe('DhtDiscovery: refusals and repair', () => {
  it("asks the refuser's alternatives, skips invalid ones, and doesn't ask the refuser again for a while", async () => {
    const table = new RecordTable()
    const entry = new TestNode(table, nodeId(1))
    await entry.join()
    const joiner = new TestNode(table, nodeId(2))
    await joiner.join()
    assert.deepEqual(joiner.asked, [entry.id])
    const alternatives = [descriptorOf(nodeId(3)), descriptorOf(nodeId(4))]
    joiner.refuse(entry.id, [...alternatives, descriptorOf(nodeId(5), 'light'), descriptorOf(joiner.id)])
    assert.deepEqual(joiner.asked.slice(1).sort(), [nodeId(3), nodeId(4)].sort())
    assert.equal(joiner.discovery.metrics.alternativesRefused, 1)
    // Refused by all: the retry looks again but leaves the refuser alone within its memory.
    joiner.refuse(nodeId(3))
    joiner.refuse(nodeId(4))
    const askedBefore = joiner.asked.length
    await advance(table, RETRY_MS + 100, 100)
    assert.ok(!joiner.asked.slice(askedBefore).includes(entry.id))
    await advance(table, 10_000)
    assert.ok(joiner.asked.slice(askedBefore).includes(entry.id), 'asked again once the memory passed')
  })

  it('asks the neighbour an accepting peer handed over while still short', async () => {
    const table = new RecordTable()
    const entry = new TestNode(table, nodeId(1))
    await entry.join()
    const joiner = new TestNode(table, nodeId(2))
    const overlay = await joiner.join()
    overlay.pendingNeighbors.delete(entry.id)
    overlay.neighbors.add(entry.id)
    joiner.discovery.takeAnswer(overlay, entry.id, true, [
      { $typeName: 'runnel.network.v1.NodeDescriptor', ...descriptorToProto(descriptorOf(nodeId(3))) },
    ])
    assert.deepEqual(joiner.asked, [entry.id, nodeId(3)])
  })

  it('names up to four of its neighbours, never the requester, in a refusal', async () => {
    const table = new RecordTable()
    const node = new TestNode(table, nodeId(1))
    const overlay = await node.join()
    for (let i = 10; i < 18; i++) overlay.neighbors.add(nodeId(i))
    const named = node.discovery.alternativesFor(overlay, nodeId(10))
    assert.equal(named.length, 4)
    assert.ok(named.every((descriptor) => descriptor.nodeId !== nodeId(10) && overlay.neighbors.has(descriptor.nodeId)))
  })

  it('a node short of neighbours after churn looks up again, rate-limited', async () => {
    const table = new RecordTable()
    const entry = new TestNode(table, nodeId(1))
    await entry.join()
    const node = new TestNode(table, nodeId(2))
    const overlay = await node.join()
    overlay.pendingNeighbors.clear()
    for (let i = 10; i < 14; i++) overlay.neighbors.add(nodeId(i))
    const lookups = node.lookups
    overlay.neighbors.delete(nodeId(10))
    for (let i = 0; i < 5; i++) node.discovery.scheduleStatus(streamPartId)
    await advance(table, 300, 20)
    assert.equal(node.lookups, lookups + 1, 'one lookup for a burst of changes')
    assert.equal(node.asked.at(-1), entry.id)
  })
})
