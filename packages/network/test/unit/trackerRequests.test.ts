import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf'
import {
  addressFromBytes,
  addressToBytes,
  generatePrivateKey,
  keccak256,
  type MessageSigner,
  type SignatureVerifier,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { NetworkError } from '../../src/errors.js'
import {
  SignedTrackerRequestSchema,
  TrackerAction,
  TrackerRequestSchema,
  type SignedTrackerRequest,
} from '../../src/generated/runnel/network/v1/network_pb.js'
import { trackerFor } from '../../src/tracker/TrackerClient.js'
import { openTrackerRequest, signTrackerRequest, type TrackerStatus } from '../../src/tracker/trackerRequests.js'

const verifier: SignatureVerifier = nativeSignatureVerifier
const STREAM_PART = '0x1234567890abcdef1234567890abcdef12345678/sensors#0'
/** Domain tag the request bytes are signed under (docs/network.md); repeated here to build requests by hand. */
const TRACKER_TAG = new TextEncoder().encode('runnel/v1/tracker\0')
/** The secp256k1 group order n. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

function newSigner(): MessageSigner {
  return createNativeSigner(generatePrivateKey())
}

const [alice, bob, carol] = [newSigner(), newSigner(), newSigner()] as const

function status(overrides: Partial<TrackerStatus> = {}): TrackerStatus {
  return {
    streamPartId: STREAM_PART,
    action: 'status',
    neighborIds: [bob.address, carol.address],
    wanted: 3,
    ...overrides,
  }
}

async function signed(signer: MessageSigner, sequence = 1, request = status()): Promise<SignedTrackerRequest> {
  return create(SignedTrackerRequestSchema, await signTrackerRequest(signer, sequence, request))
}

/** Encodes a request with any fields, and signs it with `signer` (which need not match its node id). */
async function signRaw(
  signer: MessageSigner,
  fields: MessageInitShape<typeof TrackerRequestSchema>,
): Promise<SignedTrackerRequest> {
  const request = toBinary(TrackerRequestSchema, create(TrackerRequestSchema, fields))
  const signature = await signer.signPersonalMessage(Uint8Array.from([...TRACKER_TAG, ...request]))
  return create(SignedTrackerRequestSchema, { request, signature })
}

function withSignature(request: SignedTrackerRequest, signature: Uint8Array): SignedTrackerRequest {
  return create(SignedTrackerRequestSchema, { request: request.request, signature })
}

function bigIntFromBytes(bytes: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(bytes).toString('hex'))
}

function bytesFromBigInt(value: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(value.toString(16).padStart(64, '0'), 'hex'))
}

describe('tracker requests', () => {
  it('open to the signing node and the fields it sent', async () => {
    const opened = openTrackerRequest(verifier, await signed(alice, 7))
    assert.ok(opened !== undefined)
    assert.equal(opened.nodeId, alice.address)
    assert.equal(opened.request.sequence, 7n)
    assert.equal(opened.request.streamPartId, STREAM_PART)
    assert.equal(opened.request.action, TrackerAction.STATUS)
    assert.deepEqual(opened.request.neighborIds.map(addressFromBytes), [bob.address, carol.address])
    assert.equal(opened.request.wanted, 3)
    assert.deepEqual(opened.request.nodeId, addressToBytes(alice.address))
  })

  it('carry a leave with no neighbours', async () => {
    const opened = openTrackerRequest(
      verifier,
      await signed(bob, 2 ** 40, status({ action: 'leave', neighborIds: [], wanted: 0 })),
    )
    assert.ok(opened !== undefined)
    assert.equal(opened.nodeId, bob.address)
    assert.equal(opened.request.action, TrackerAction.LEAVE)
    assert.equal(opened.request.sequence, 2n ** 40n)
    assert.deepEqual(opened.request.neighborIds, [])
    assert.equal(opened.request.wanted, 0)
  })

  it('accept a request built by hand the same way, so the checks below test what they claim', async () => {
    const opened = openTrackerRequest(
      verifier,
      await signRaw(alice, { nodeId: addressToBytes(alice.address), wanted: 1 }),
    )
    assert.equal(opened?.nodeId, alice.address)
  })

  it('are refused when the body was changed after signing', async () => {
    const original = await signed(alice)
    const changedFields = create(SignedTrackerRequestSchema, {
      request: toBinary(
        TrackerRequestSchema,
        create(TrackerRequestSchema, {
          nodeId: addressToBytes(alice.address),
          sequence: 1n,
          streamPartId: STREAM_PART,
          action: TrackerAction.STATUS,
          neighborIds: [addressToBytes(bob.address), addressToBytes(carol.address)],
          wanted: 4,
        }),
      ),
      signature: original.signature,
    })
    assert.equal(openTrackerRequest(verifier, changedFields), undefined, 'wanted 3 → 4')

    for (let index = 0; index < original.request.length; index++) {
      const request = original.request.slice()
      request[index] = request[index]! ^ 0x01
      const tampered = create(SignedTrackerRequestSchema, { request, signature: original.signature })
      assert.equal(openTrackerRequest(verifier, tampered), undefined, `bit flipped in byte ${index}`)
    }
  })

  it('are refused when the signature was changed', async () => {
    const original = await signed(alice)
    for (const index of [0, 31, 32, 63, 64]) {
      const signature = original.signature.slice()
      signature[index] = signature[index]! ^ 0x01
      assert.equal(openTrackerRequest(verifier, withSignature(original, signature)), undefined, `byte ${index}`)
    }
    assert.equal(openTrackerRequest(verifier, withSignature(original, new Uint8Array(65))), undefined, 'all zero')
  })

  it('are refused with a signature of the wrong length', async () => {
    const original = await signed(alice)
    assert.equal(openTrackerRequest(verifier, withSignature(original, original.signature.subarray(0, 64))), undefined)
    assert.equal(openTrackerRequest(verifier, withSignature(original, new Uint8Array(0))), undefined)
    const longer = Uint8Array.from([...original.signature, 0])
    assert.equal(openTrackerRequest(verifier, withSignature(original, longer)), undefined)
  })

  it('are refused when signed by another key than the node id they name', async () => {
    const forged = await signRaw(bob, {
      nodeId: addressToBytes(alice.address),
      sequence: 1n,
      streamPartId: STREAM_PART,
      action: TrackerAction.LEAVE,
    })
    assert.equal(openTrackerRequest(verifier, forged), undefined)
  })

  it('are refused when a node id or neighbour id is not 20 bytes, even if correctly signed', async () => {
    const shortNeighbor = await signRaw(alice, {
      nodeId: addressToBytes(alice.address),
      neighborIds: [addressToBytes(bob.address), new Uint8Array(19)],
    })
    assert.equal(openTrackerRequest(verifier, shortNeighbor), undefined)
    const noNodeId = await signRaw(alice, { streamPartId: STREAM_PART })
    assert.equal(openTrackerRequest(verifier, noNodeId), undefined)
  })

  it('are refused, without throwing, when the request is not protobuf', async () => {
    const garbage = create(SignedTrackerRequestSchema, {
      request: Uint8Array.of(0x0a, 0x20, 0x01),
      signature: (await signed(alice)).signature,
    })
    assert.equal(openTrackerRequest(verifier, garbage), undefined)
  })

  it('are refused with a malleated (high-s) copy of a valid signature', async () => {
    const original = await signed(alice)
    const s = bigIntFromBytes(original.signature.subarray(32, 64))
    const malleated = original.signature.slice()
    malleated.set(bytesFromBigInt(CURVE_ORDER - s), 32)
    malleated[64] = malleated[64] === 27 ? 28 : 27
    assert.equal(openTrackerRequest(verifier, withSignature(original, malleated)), undefined)
  })
})

describe('trackerFor', () => {
  const trackers = ['ws://tracker-a:30300', 'ws://tracker-b:30300', 'ws://tracker-c:30300'] as const
  const streamPartIds = Array.from(
    { length: 600 },
    (_, index) => `${STREAM_PART.split('#')[0]!}/path-${index}#${index % 4}`,
  )

  it('gives the same tracker for the same stream part and list, every time', () => {
    for (const streamPartId of streamPartIds.slice(0, 50)) {
      const first = trackerFor(streamPartId, trackers)
      assert.equal(trackerFor(streamPartId, trackers), first)
      assert.equal(trackerFor(streamPartId, [...trackers]), first, 'a copy of the list')
    }
  })

  it('picks keccak256(stream part id)[0..4] as a big-endian unsigned number modulo the tracker count', () => {
    const encoder = new TextEncoder()
    let highBitSeen = false
    for (const streamPartId of streamPartIds.slice(0, 50)) {
      const hash = keccak256(encoder.encode(streamPartId))
      highBitSeen ||= (hash[0] ?? 0) >= 0x80
      const value = Buffer.from(hash.subarray(0, 4)).readUInt32BE(0)
      assert.equal(trackerFor(streamPartId, trackers), trackers[value % trackers.length])
    }
    assert.ok(highBitSeen, 'some hash had its top bit set, which a signed shift would get wrong')
  })

  it('spreads stream parts over the trackers', () => {
    const counts = new Map<string, number>()
    for (const streamPartId of streamPartIds) {
      const tracker = trackerFor(streamPartId, trackers)
      counts.set(tracker, (counts.get(tracker) ?? 0) + 1)
    }
    assert.deepEqual([...counts.keys()].sort(), [...trackers].sort())
    for (const [tracker, count] of counts) assert.ok(count > 150 && count < 250, `${tracker} serves ${count} of 600`)
  })

  it('uses the only tracker when there is one', () => {
    for (const streamPartId of streamPartIds.slice(0, 20))
      assert.equal(trackerFor(streamPartId, ['ws://only']), 'ws://only')
  })

  it('throws NetworkError INVALID_OPTIONS for an empty tracker list', () => {
    assert.throws(
      () => trackerFor(STREAM_PART, []),
      (err: unknown) => err instanceof NetworkError && err.code === 'INVALID_OPTIONS',
    )
  })
})
