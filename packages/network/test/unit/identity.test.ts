import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create } from '@bufbuild/protobuf'
import { addressFromBytes } from '@runnel/protocol'
import { NetworkError } from '../../src/errors.js'
import {
  NodeDescriptorSchema,
  NodeKind,
  type NodeDescriptor as NodeDescriptorProto,
} from '../../src/generated/runnel/network/v1/network_pb.js'
import {
  createHandshakePayload,
  descriptorFromProto,
  descriptorToProto,
  type NodeDescriptor,
} from '../../src/identity.js'
import { NETWORK_PROTOCOL_VERSION } from '../../src/wire/frames.js'

const NODE_ID_BYTES = Uint8Array.from({ length: 20 }, (_, index) => 0xa0 + index)
const NODE_ID = addressFromBytes(NODE_ID_BYTES)
const OTHER_NODE_ID = addressFromBytes(new Uint8Array(20).fill(0x11))
const NONCE = new Uint8Array(32).fill(0x5a)

function proto(fields: Partial<Omit<NodeDescriptorProto, '$typeName' | '$unknown'>> = {}) {
  return create(NodeDescriptorSchema, {
    nodeId: NODE_ID_BYTES,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
    kind: NodeKind.FULL,
    addresses: ['ws://10.0.0.1:30300'],
    ...fields,
  })
}

function isHandshakeFailed(err: unknown): boolean {
  return err instanceof NetworkError && err.code === 'HANDSHAKE_FAILED'
}

const DESCRIPTOR: NodeDescriptor = {
  nodeId: NODE_ID,
  kind: 'full',
  addresses: ['ws://10.0.0.1:30300', 'wss://node.example:443'],
  protocolVersion: NETWORK_PROTOCOL_VERSION,
}

describe('descriptorFromProto', () => {
  it('returns one object for equal descriptors and never one for different ones', () => {
    const first = descriptorFromProto(proto())
    assert.equal(descriptorFromProto(proto()), first)
    assert.deepEqual(descriptorFromProto(proto()), first)
    // Fields from the wire may hold any character: no two different descriptors may share a key.
    const joined = descriptorFromProto(proto({ addresses: ['ws://a b'] }))
    const split = descriptorFromProto(proto({ addresses: ['ws://a', 'b'] }))
    assert.notEqual(joined, split)
    assert.deepEqual(joined.addresses, ['ws://a b'])
    assert.deepEqual(split.addresses, ['ws://a', 'b'])
    const located = descriptorFromProto(proto({ country: 'DE', region: 'eu-central' }))
    assert.notEqual(located, first)
    assert.deepEqual(located.location, { country: 'DE', region: 'eu-central' })
    assert.notEqual(descriptorFromProto(proto({ kind: NodeKind.LIGHT })), first)
  })

  it('accepts a well-formed descriptor of every kind', () => {
    for (const [kind, expected] of [
      [NodeKind.FULL, 'full'],
      [NodeKind.LIGHT, 'light'],
      [NodeKind.TRACKER, 'tracker'],
    ] as const) {
      assert.deepEqual(descriptorFromProto(proto({ kind })), {
        nodeId: NODE_ID,
        kind: expected,
        addresses: ['ws://10.0.0.1:30300'],
        protocolVersion: NETWORK_PROTOCOL_VERSION,
      })
    }
  })

  it('round-trips through descriptorToProto', () => {
    for (const kind of ['full', 'light', 'tracker'] as const) {
      const descriptor: NodeDescriptor = { ...DESCRIPTOR, kind }
      assert.deepEqual(descriptorFromProto(create(NodeDescriptorSchema, descriptorToProto(descriptor))), descriptor)
    }
    const dialOnly: NodeDescriptor = { ...DESCRIPTOR, kind: 'light', addresses: [] }
    assert.deepEqual(descriptorFromProto(create(NodeDescriptorSchema, descriptorToProto(dialOnly))), dialOnly)
  })

  it('accepts exactly 8 addresses of exactly 256 characters', () => {
    const addresses = Array.from({ length: 8 }, (_, index) => `ws://${String(index).repeat(251)}`)
    assert.ok(addresses.every((address) => address.length === 256))
    assert.deepEqual(descriptorFromProto(proto({ addresses })).addresses, addresses)
  })

  it('refuses a missing descriptor', () => {
    assert.throws(() => descriptorFromProto(undefined), isHandshakeFailed)
  })

  it('refuses a node id that is not 20 bytes', () => {
    for (const length of [0, 19, 21, 32]) {
      assert.throws(
        () => descriptorFromProto(proto({ nodeId: new Uint8Array(length) })),
        isHandshakeFailed,
        `${length}`,
      )
    }
  })

  it('refuses another protocol version', () => {
    for (const protocolVersion of [0, NETWORK_PROTOCOL_VERSION + 1, 0xffff_ffff]) {
      assert.throws(() => descriptorFromProto(proto({ protocolVersion })), isHandshakeFailed, `${protocolVersion}`)
    }
  })

  it('refuses an unspecified or unknown node kind', () => {
    for (const kind of [NodeKind.UNSPECIFIED, 4, 99, -1] as NodeKind[]) {
      assert.throws(() => descriptorFromProto(proto({ kind })), isHandshakeFailed, `kind ${kind}`)
    }
  })

  it('refuses more than 8 addresses', () => {
    const addresses = Array.from({ length: 9 }, (_, index) => `ws://10.0.0.${index}:30300`)
    assert.throws(() => descriptorFromProto(proto({ addresses })), isHandshakeFailed)
  })

  it('carries a location, and none when both fields are empty', () => {
    const located: NodeDescriptor = { ...DESCRIPTOR, location: { country: 'DE', region: 'eu-central' } }
    assert.deepEqual(descriptorFromProto(create(NodeDescriptorSchema, descriptorToProto(located))), located)
    const countryOnly: NodeDescriptor = { ...DESCRIPTOR, location: { country: 'FR' } }
    assert.deepEqual(descriptorFromProto(create(NodeDescriptorSchema, descriptorToProto(countryOnly))), countryOnly)
    assert.equal(descriptorFromProto(proto({ country: '', region: '' })).location, undefined)
  })

  it('refuses a country that is not an assigned code or not upper case, and a malformed region', () => {
    for (const fields of [
      { country: 'ZZ' },
      { country: 'de' },
      { country: 'DEU' },
      { region: 'EU' },
      { region: 'a b' },
    ]) {
      assert.throws(
        () => descriptorFromProto(proto(fields)),
        (err: unknown) => isHandshakeFailed(err) && /invalid location/.test((err as Error).message),
        JSON.stringify(fields),
      )
    }
  })

  it('refuses an address longer than 256 characters', () => {
    const addresses = ['ws://ok:1', `ws://${'a'.repeat(252)}`]
    assert.equal(addresses[1]?.length, 257)
    assert.throws(() => descriptorFromProto(proto({ addresses })), isHandshakeFailed)
  })
})

describe('createHandshakePayload', () => {
  const base = createHandshakePayload(NONCE, DESCRIPTOR)

  it('is the same for the same nonce and descriptor', () => {
    assert.deepEqual(
      createHandshakePayload(NONCE.slice(), { ...DESCRIPTOR, addresses: [...DESCRIPTOR.addresses] }),
      base,
    )
  })

  const variants: readonly (readonly [string, Uint8Array, NodeDescriptor])[] = [
    ['the nonce', Uint8Array.from(NONCE, (byte, index) => (index === 31 ? byte ^ 1 : byte)), DESCRIPTOR],
    ['the nonce length', NONCE.subarray(0, 31), DESCRIPTOR],
    ['the node id', NONCE, { ...DESCRIPTOR, nodeId: OTHER_NODE_ID }],
    ['the kind (light)', NONCE, { ...DESCRIPTOR, kind: 'light' }],
    ['the kind (tracker)', NONCE, { ...DESCRIPTOR, kind: 'tracker' }],
    ['the protocol version', NONCE, { ...DESCRIPTOR, protocolVersion: NETWORK_PROTOCOL_VERSION + 1 }],
    ['the protocol version (high byte)', NONCE, { ...DESCRIPTOR, protocolVersion: NETWORK_PROTOCOL_VERSION + 2 ** 24 }],
    ['an address', NONCE, { ...DESCRIPTOR, addresses: ['ws://10.0.0.1:30301', 'wss://node.example:443'] }],
    ['the address order', NONCE, { ...DESCRIPTOR, addresses: [...DESCRIPTOR.addresses].reverse() }],
    ['one address fewer', NONCE, { ...DESCRIPTOR, addresses: DESCRIPTOR.addresses.slice(0, 1) }],
    ['no addresses', NONCE, { ...DESCRIPTOR, addresses: [] }],
    ['one address more', NONCE, { ...DESCRIPTOR, addresses: [...DESCRIPTOR.addresses, 'ws://x:1'] }],
    ['a location', NONCE, { ...DESCRIPTOR, location: { country: 'DE' } }],
  ]
  for (const [field, nonce, descriptor] of variants) {
    it(`differs when ${field} differs`, () => {
      assert.notDeepEqual(createHandshakePayload(nonce, descriptor), base)
    })
  }

  it('keeps address boundaries: ["ab", "c"] and ["a", "bc"] differ', () => {
    assert.notDeepEqual(
      createHandshakePayload(NONCE, { ...DESCRIPTOR, addresses: ['ab', 'c'] }),
      createHandshakePayload(NONCE, { ...DESCRIPTOR, addresses: ['a', 'bc'] }),
    )
  })

  it('is the same with an empty location as with none, as the wire carries both alike', () => {
    assert.deepEqual(createHandshakePayload(NONCE, { ...DESCRIPTOR, location: {} }), base)
  })

  it('keeps the country and region apart', () => {
    assert.notDeepEqual(
      createHandshakePayload(NONCE, { ...DESCRIPTOR, location: { country: 'DE' } }),
      createHandshakePayload(NONCE, { ...DESCRIPTOR, location: { region: 'de' } }),
    )
  })

  it('encodes addresses by their UTF-8 bytes, not their UTF-16 length', () => {
    const ascii = createHandshakePayload(NONCE, { ...DESCRIPTOR, addresses: ['ws://e:1'] })
    const accented = createHandshakePayload(NONCE, { ...DESCRIPTOR, addresses: ['ws://é:1'] })
    assert.equal(accented.length, ascii.length + 1, 'é is two UTF-8 bytes')
    assert.notDeepEqual(accented, ascii)
  })
})
