// Two processes with one key on the simulator's virtual time: a dial from one
// to the other proves the key on both ends, the newer of the two (by the
// uptimes their Hellos carried) is told to stop whichever of them dialled,
// and IdentityCheck dials each hinted address once, ignoring hints it can't
// or needn't check.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock, type MessageSigner } from '@runnel/protocol'
import { ConnectionManager } from '../../src/connection/ConnectionManager.js'
import { IdentityCheck } from '../../src/connection/IdentityCheck.js'
import { NetworkError } from '../../src/errors.js'
import { NETWORK_PROTOCOL_VERSION, Simulator, constantLatency, silentLogger } from '../../src/index.js'
import { newSigner, verifier } from '../helpers.js'

interface Process {
  readonly manager: ConnectionManager
  readonly address: string
  /** How often this process was told it is the newer one and must stop. */
  told: number
}

function setup(): { clock: ManualClock; simulator: Simulator } {
  const clock = new ManualClock()
  return { clock, simulator: new Simulator({ seed: 3, latency: constantLatency(10), clock }) }
}

async function startProcess(clock: ManualClock, simulator: Simulator, signer: MessageSigner): Promise<Process> {
  const process = { told: 0 }
  const manager = new ConnectionManager({
    transport: simulator.createTransport(),
    signer,
    verifier,
    clock,
    events: {
      onPeerReady: () => undefined,
      onControl: () => undefined,
      onData: () => undefined,
      onPeerClosed: () => undefined,
      onIdentityInUse: () => process.told++,
    },
  })
  const descriptor = await manager.start((addresses) => ({
    nodeId: signer.address,
    kind: 'full',
    addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }))
  return Object.assign(process, { manager, address: descriptor.addresses[0]! })
}

describe('a dial between two processes with one key', () => {
  for (const dialler of ['older', 'newer'] as const) {
    it(`tells the newer one to stop when the ${dialler} one dials; both close the connection as identity-check`, async () => {
      const { clock, simulator } = setup()
      const signer = newSigner()
      const older = await startProcess(clock, simulator, signer)
      clock.advance(60_000)
      const newer = await startProcess(clock, simulator, signer)
      const [from, to] = dialler === 'older' ? [older, newer] : [newer, older]
      let checked = false
      void from.manager.checkOwnId(to.address).then(() => (checked = true))
      await simulator.runUntil(
        () =>
          checked &&
          older.manager.totals().closes['identity-check'] === 1 &&
          newer.manager.totals().closes['identity-check'] === 1,
      )
      assert.equal(newer.told, 1, 'the newer process is told to stop')
      assert.equal(older.told, 0, 'the older process keeps running')
      assert.equal(older.manager.connectionCount, 0)
      assert.equal(newer.manager.connectionCount, 0)
      simulator.stop()
    })
  }

  it('a dial that reaches this very process is no twin: it fails, and no one is told', async () => {
    const { clock, simulator } = setup()
    const self = await startProcess(clock, simulator, newSigner())
    let error: unknown
    void self.manager.checkOwnId(self.address).catch((err: unknown) => (error = err))
    await simulator.runUntil(() => error !== undefined)
    assert.ok(error instanceof NetworkError && error.code === 'CONNECTION_FAILED', String(error))
    assert.equal(self.told, 0)
    assert.equal(self.manager.totals().closes['protocol-violation'], 2, 'both ends of the loop closed it')
    simulator.stop()
  })

  it('a dial that reaches another node fails with PEER_ID_MISMATCH', async () => {
    const { clock, simulator } = setup()
    const one = await startProcess(clock, simulator, newSigner())
    const other = await startProcess(clock, simulator, newSigner())
    let error: unknown
    void one.manager.checkOwnId(other.address).catch((err: unknown) => (error = err))
    await simulator.runUntil(() => error !== undefined)
    assert.ok(error instanceof NetworkError && error.code === 'PEER_ID_MISMATCH', String(error))
    assert.equal(one.told + other.told, 0)
    simulator.stop()
  })
})

describe('IdentityCheck', () => {
  it('dials a hinted address once, and counts hints it drops', async () => {
    const { clock, simulator } = setup()
    const signer = newSigner()
    const older = await startProcess(clock, simulator, signer)
    clock.advance(1_000)
    const newer = await startProcess(clock, simulator, signer)
    const stranger = await startProcess(clock, simulator, newSigner())
    const check = new IdentityCheck({ connections: newer.manager, clock, logger: silentLogger })
    const at = (address: string, nodeId = signer.address) => ({
      nodeId,
      kind: 'full' as const,
      addresses: [address],
      protocolVersion: NETWORK_PROTOCOL_VERSION,
    })

    check.hint(at(newer.address)) // its own address: not a hint at all
    check.hint(at(stranger.address, stranger.manager.localDescriptor.nodeId)) // another node id
    check.hint({ ...at(older.address), addresses: [] }) // nothing to dial (a light node)
    assert.deepEqual(check.metrics, { hints: 0, dials: 0, answered: 0, stale: 0, ignored: 2 })

    check.hint(at(older.address))
    check.hint(at(older.address)) // the same address again: one dial
    await simulator.runUntil(() => check.metrics.answered === 1)
    assert.equal(newer.told, 1)
    assert.equal(older.told, 0)

    check.hint(at(stranger.address)) // this id claimed at another node's address: a stale entry
    await simulator.runUntil(() => check.metrics.stale === 1)
    assert.deepEqual(check.metrics, { hints: 2, dials: 2, answered: 1, stale: 1, ignored: 3 })
    check.stop()
    check.hint(at('sim://nowhere'))
    assert.equal(check.metrics.dials, 2, 'no dial once stopped')
    simulator.stop()
  })
})
