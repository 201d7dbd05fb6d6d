// The test vectors of docs/protocol.md, read from the page itself: every value
// there is rebuilt here with the reference implementation, so the page an
// implementation in another language checks itself against can't drift from
// the code. Changing any of these bytes breaks compatibility.
import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { hashMessage, verifyMessage } from 'ethers'
import {
  MessageId,
  MessageRef,
  addressFromPrivateKey,
  createPureSigner,
  createSignaturePayload,
  decodeStreamMessage,
  encodeStreamMessage,
  hashPersonalMessage,
  pureSignatureVerifier,
  signStreamMessage,
  verifyStreamMessage,
  type ContentType,
  type EncryptionType,
  type MessageType,
} from '../../src/index.js'
import { createNativeSigner } from '../../src/native/index.js'

const PROTOCOL_DOC = new URL('../../../../docs/protocol.md', import.meta.url)

type Vector = ReadonlyMap<string, string>

/**
 * The ```runnel-test-vector blocks of a page, as the page describes them:
 * `name: value` lines, `#` comments, indented lines continuing the value above.
 */
function parseVectors(markdown: string): Vector[] {
  const blocks = [...markdown.matchAll(/^```runnel-test-vector\n([\s\S]*?)^```$/gm)].map((match) => match[1]!)
  return blocks.map((block) => {
    const vector = new Map<string, string>()
    let name: string | undefined
    for (const rawLine of block.split('\n')) {
      const line = rawLine.replace(/#.*$/, '').trimEnd()
      if (line.trim() === '') continue
      if (/^\s/.test(line)) {
        assert.ok(name !== undefined, `a continuation line before any field: '${rawLine}'`)
        vector.set(name, `${vector.get(name)!} ${line.trim()}`.trim())
        continue
      }
      const colon = line.indexOf(':')
      assert.ok(colon > 0, `not a 'name: value' line: '${rawLine}'`)
      name = line.slice(0, colon)
      assert.ok(!vector.has(name), `field '${name}' twice`)
      vector.set(name, line.slice(colon + 1).trim())
    }
    return vector
  })
}

function field(vector: Vector, name: string): string {
  const value = vector.get(name)
  assert.ok(value !== undefined, `the vector has no '${name}'`)
  return value
}

/** A hex field's bytes (spaces and a `0x` prefix mean nothing); undefined when the field is empty (absent). */
function bytesOf(vector: Vector, name: string): Uint8Array | undefined {
  const text = field(vector, name).replace(/\s+/g, '').replace(/^0x/, '')
  if (text === '') return undefined
  assert.match(text, /^([0-9a-f]{2})+$/, `'${name}' is not lowercase hex bytes`)
  return Buffer.from(text, 'hex')
}

function requiredBytes(vector: Vector, name: string): Uint8Array {
  const bytes = bytesOf(vector, name)
  assert.ok(bytes !== undefined, `'${name}' is empty`)
  return bytes
}

function integerOf(vector: Vector, name: string): number {
  const text = field(vector, name)
  assert.match(text, /^\d+$/, `'${name}' is not a decimal integer`)
  return Number(text)
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** IV ‖ AES-256-GCM ciphertext ‖ tag, as docs/encryption.md defines sealed content and keys. */
function seal(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

/** Rebuilds a vector's message from its key and fields, and asserts every value the page gives. */
async function checkVector(vector: Vector): Promise<void> {
  const privateKey = field(vector, 'private key')
  const address = field(vector, 'address')
  assert.equal(addressFromPrivateKey(privateKey), address, 'address')

  const content = requiredBytes(vector, 'content')
  if (vector.has('content text')) {
    assert.equal(hex(content), hex(new TextEncoder().encode(field(vector, 'content text'))), 'content text')
  }
  const newGroupKeyData = bytesOf(vector, 'new group key data')
  if (vector.has('group key')) {
    const groupKey = requiredBytes(vector, 'group key')
    const plaintext = new TextEncoder().encode(field(vector, 'plaintext'))
    assert.equal(hex(seal(groupKey, requiredBytes(vector, 'content iv'), plaintext)), hex(content), 'sealed content')
    const nextKey = requiredBytes(vector, 'next group key')
    const sealedKey = seal(groupKey, requiredBytes(vector, 'new group key iv'), nextKey)
    assert.equal(hex(sealedKey), hex(newGroupKeyData ?? new Uint8Array()), 'sealed new group key')
  }

  const prevRef = field(vector, 'prev ref')
  const [prevTimestamp, prevSequenceNumber] = prevRef.split(/\s+/).map(Number)
  const groupKeyId = field(vector, 'group key id')
  const newGroupKeyId = field(vector, 'new group key id')
  assert.equal(newGroupKeyId === '', newGroupKeyData === undefined, 'new group key id and data go together')
  const fields = {
    messageId: new MessageId(
      field(vector, 'stream id'),
      integerOf(vector, 'partition'),
      integerOf(vector, 'timestamp'),
      integerOf(vector, 'sequence number'),
      field(vector, 'publisher id'),
      field(vector, 'msg chain id'),
    ),
    prevMsgRef: prevRef === '' ? undefined : new MessageRef(prevTimestamp!, prevSequenceNumber!),
    messageType: integerOf(vector, 'message type') as MessageType,
    contentType: integerOf(vector, 'content type') as ContentType,
    encryptionType: integerOf(vector, 'encryption type') as EncryptionType,
    groupKeyId: groupKeyId === '' ? undefined : groupKeyId,
    newGroupKey: newGroupKeyData === undefined ? undefined : { id: newGroupKeyId, data: newGroupKeyData },
    content,
  }
  const message = await signStreamMessage(fields, createPureSigner(privateKey))
  assert.equal(message.signatureType, integerOf(vector, 'signature type'), 'signature type')

  const payload = createSignaturePayload(message)
  assert.equal(hex(payload), hex(requiredBytes(vector, 'payload')), 'payload')
  const prefix = requiredBytes(vector, 'digest prefix')
  assert.equal(
    hex(prefix),
    hex(new TextEncoder().encode(`\x19Ethereum Signed Message:\n${payload.length}`)),
    'digest prefix',
  )
  const digest = hashPersonalMessage(payload)
  assert.equal(hex(digest), hex(requiredBytes(vector, 'digest')), 'digest')
  assert.equal(hashMessage(payload), `0x${hex(digest)}`, 'digest, as ethers computes it')
  const signature = requiredBytes(vector, 'signature')
  assert.equal(hex(message.signature), hex(signature), 'signature')
  // RFC 6979: every correct signer makes the same signature, the native one included.
  const native = await signStreamMessage(fields, createNativeSigner(privateKey))
  assert.equal(hex(native.signature), hex(signature), 'signature, as libsecp256k1 makes it')
  assert.equal(verifyMessage(payload, `0x${hex(signature)}`).toLowerCase(), address, 'signer, as ethers recovers it')

  const wire = requiredBytes(vector, 'wire')
  assert.equal(hex(encodeStreamMessage(message)), hex(wire), 'wire')
  const decoded = decodeStreamMessage(wire)
  assert.equal(hex(createSignaturePayload(decoded)), hex(payload), 'payload of the decoded wire bytes')
  assert.ok(verifyStreamMessage(decoded, pureSignatureVerifier), 'the decoded message verifies')
}

describe('the test vectors of docs/protocol.md', () => {
  const vectors = parseVectors(readFileSync(PROTOCOL_DOC, 'utf8'))

  it('has two vectors: plaintext with a previous ref, encrypted with a new group key', () => {
    assert.equal(vectors.length, 2)
    assert.notEqual(field(vectors[0]!, 'prev ref'), '')
    assert.equal(field(vectors[0]!, 'group key id'), '')
    assert.equal(field(vectors[1]!, 'prev ref'), '')
    assert.notEqual(field(vectors[1]!, 'new group key id'), '')
  })

  it('rebuilds every value of each vector from its key and fields', async () => {
    for (const vector of vectors) await checkVector(vector)
  })

  it('notices one changed hex digit in any byte value of the page', async () => {
    for (const vector of vectors) {
      for (const [name, value] of vector) {
        if (!/^(0x)?[0-9a-f]{2}[0-9a-f ]*$/.test(value)) continue
        const last = value.at(-1)!
        const changed = new Map(vector).set(name, `${value.slice(0, -1)}${last === '0' ? '1' : '0'}`)
        await assert.rejects(checkVector(changed), `changing '${name}' went unnoticed`)
      }
    }
  })
})
