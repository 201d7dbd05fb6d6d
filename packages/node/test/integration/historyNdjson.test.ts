import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { PublishedMessage, RunnelClient } from '@runnel/client'
import {
  ContentType,
  MessageId,
  MessageRef,
  StreamMessage,
  createPureSigner,
  createSignaturePayload,
  decodeStreamMessage,
  encodeJsonContent,
  pureSignatureVerifier,
  signStreamMessage,
  verifyStreamMessage,
} from '@runnel/protocol'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

/** One line of history NDJSON, as the node README documents it. */
interface HistoryLine {
  streamId: string
  partition: number
  timestamp: number
  sequenceNumber: number
  publisherId: string
  msgChainId: string
  prevMsgRef: { timestamp: number; sequenceNumber: number } | null
  messageType: string
  contentType: string
  encryptionType: string
  encrypted: boolean
  groupKeyId: string | null
  newGroupKey: { id: string; data: string } | null
  content: unknown
  contentBase64: string
  signatureType: string
  signature: string
  message: string
}

// The wire values of the NDJSON names, from the node README's table (not from the node's code).
const WIRE_VALUES = {
  messageType: { data: 1, groupKeyRequest: 2, groupKeyResponse: 3 },
  contentType: { json: 1, binary: 2 },
  encryptionType: { none: 1, aes: 2 },
  signatureType: { secp256k1Eip191: 1 },
} as const

function wireValue<K extends keyof typeof WIRE_VALUES>(kind: K, name: string): number {
  const value = (WIRE_VALUES[kind] as Record<string, number>)[name]
  assert.ok(value !== undefined, `${kind} '${name}' is not a documented name`)
  return value
}

/** The signed message rebuilt from a line's fields alone, never from its `message`. */
function messageFromFields(line: HistoryLine, content = Buffer.from(line.contentBase64, 'base64')): StreamMessage {
  return new StreamMessage({
    messageId: new MessageId(
      line.streamId,
      line.partition,
      line.timestamp,
      line.sequenceNumber,
      line.publisherId,
      line.msgChainId,
    ),
    prevMsgRef:
      line.prevMsgRef === null ? undefined : new MessageRef(line.prevMsgRef.timestamp, line.prevMsgRef.sequenceNumber),
    messageType: wireValue('messageType', line.messageType),
    contentType: wireValue('contentType', line.contentType),
    encryptionType: wireValue('encryptionType', line.encryptionType),
    groupKeyId: line.groupKeyId ?? undefined,
    newGroupKey:
      line.newGroupKey === null
        ? undefined
        : { id: line.newGroupKey.id, data: Buffer.from(line.newGroupKey.data, 'base64') },
    content,
    signatureType: wireValue('signatureType', line.signatureType),
    signature: Buffer.from(line.signature.replace(/^0x/, ''), 'hex'),
  })
}

const CHAIN_ID = 'hand-signed'
// Recent enough that no retention deletes them, and one millisecond apart so each line is known by its timestamp.
const BASE = Date.now() - 60_000
// Valid JSON, but not as JSON.stringify writes it: only these bytes carry the signature.
const HAND_WRITTEN_JSON = '{ "celsius" : 21.50, "note": "caf\\u00e9" }'

describe('history NDJSON', () => {
  let network: TestNetwork
  let directory: string
  let storageNode: RunnelNode
  let streamId: string
  let publisher: RunnelClient
  let lines: HistoryLine[]

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-history-ndjson-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/history-ndjson')
    storageNode = await network.startNode(5, {
      plugins: {
        http: { port: 0 },
        websocket: false,
        mqtt: false,
        storage: { sqlite: { path: join(directory, 'db') } },
      },
    })
    await network.client(1).addStreamToStorageNode(streamId, storageNode.client.address)
    await waitFor(() => storageNode.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
    publisher = network.client(3)
    const target = { id: streamId, partition: 0 }
    const published: PublishedMessage[] = []

    // 1. Plain JSON from the SDK, which also joins the stream part for the hand-signed message.
    published.push(await publisher.publish(target, { celsius: 21.5 }, { timestamp: BASE }))
    // 2. JSON through the node's HTTP API: the node parses it and signs its own re-serialization.
    const http = storageNode.info().endpoints.http!
    const response = await fetch(`${http}/streams/${encodeURIComponent(streamId)}?timestamp=${BASE + 1}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{ "b": 1.0, "n": 1e3, "2": 0 }',
    })
    assert.equal(response.status, 200, await response.clone().text())
    published.push((await response.json()) as PublishedMessage)
    // 3. Hand-signed JSON bytes, published as they are.
    const signer = createPureSigner(network.dev.chain.accountKeys[3]!)
    const handSigned = await signStreamMessage(
      {
        messageId: new MessageId(streamId, 0, BASE + 2, 0, signer.address, CHAIN_ID),
        contentType: ContentType.Json,
        content: new TextEncoder().encode(HAND_WRITTEN_JSON),
      },
      signer,
    )
    publisher.networkNode.broadcast(handSigned)
    published.push({ ...published[0]!, timestamp: BASE + 2, sequenceNumber: 0, msgChainId: CHAIN_ID })
    // 4. and 5. Encrypted, then encrypted after a rotation: that one carries the next key.
    published.push(await publisher.publish(target, { secret: 1 }, { encrypt: true, timestamp: BASE + 3 }))
    await publisher.updateEncryptionKey({ streamId, distributionMethod: 'rotate' })
    published.push(await publisher.publish(target, { secret: 2 }, { encrypt: true, timestamp: BASE + 4 }))
    for (const message of published) await publisher.waitForStorage(message)

    const ndjson = await fetch(
      `${storageNode.info().endpoints.storage}/streams/${encodeURIComponent(streamId)}/data/partitions/0/last?count=10`,
    )
    assert.equal(ndjson.headers.get('content-type'), 'application/x-ndjson')
    lines = (await ndjson.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as HistoryLine)
    assert.deepEqual(
      lines.map((line) => line.timestamp),
      [0, 1, 2, 3, 4].map((i) => BASE + i),
    )
  })
  after(async () => {
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it('gives every signed field, so a verifier checks each message from the line alone', () => {
    for (const line of lines) {
      const rebuilt = messageFromFields(line)
      assert.ok(verifyStreamMessage(rebuilt, pureSignatureVerifier), `message at ${line.timestamp} verifies`)
      // The fields say what the signed message itself says.
      const signed = decodeStreamMessage(Buffer.from(line.message, 'base64'))
      assert.deepEqual(createSignaturePayload(rebuilt), createSignaturePayload(signed))
      assert.deepEqual(rebuilt.signature, signed.signature)
    }
  })

  it('names the message, encryption and signature types, and the group keys of an encrypted message', () => {
    assert.deepEqual(
      lines.map((line) => [line.messageType, line.encryptionType, line.signatureType, line.encrypted]),
      [
        ['data', 'none', 'secp256k1Eip191', false],
        ['data', 'none', 'secp256k1Eip191', false],
        ['data', 'none', 'secp256k1Eip191', false],
        ['data', 'aes', 'secp256k1Eip191', true],
        ['data', 'aes', 'secp256k1Eip191', true],
      ],
    )
    const [, , , encrypted, rotated] = lines as [HistoryLine, HistoryLine, HistoryLine, HistoryLine, HistoryLine]
    assert.equal(lines[0]!.groupKeyId, null)
    assert.equal(lines[0]!.newGroupKey, null)
    assert.match(encrypted.groupKeyId!, /^[0-9a-f]{32}$/)
    assert.equal(encrypted.newGroupKey, null)
    assert.equal(rotated.groupKeyId, encrypted.groupKeyId, 'a rotation announces the next key under the current one')
    assert.notEqual(rotated.newGroupKey!.id, encrypted.groupKeyId)
    assert.equal(Buffer.from(rotated.newGroupKey!.data, 'base64').length, 60)
    assert.equal(rotated.contentType, 'json', 'the type of the plaintext')
    assert.equal(rotated.content, rotated.contentBase64, 'ciphertext, in base64')
  })

  it('gives the signed content bytes, which parsed JSON content can’t reproduce', () => {
    const handSigned = lines[2]!
    assert.equal(Buffer.from(handSigned.contentBase64, 'base64').toString('utf8'), HAND_WRITTEN_JSON)
    assert.deepEqual(handSigned.content, { celsius: 21.5, note: 'café' })
    const reserialized = messageFromFields(handSigned, Buffer.from(encodeJsonContent(handSigned.content)))
    assert.equal(verifyStreamMessage(reserialized, pureSignatureVerifier), false)
  })

  it('shows that a node’s HTTP API signs its own serialization of a JSON body, not the body as sent', () => {
    const viaHttp = lines[1]!
    assert.equal(viaHttp.publisherId, storageNode.address)
    assert.equal(Buffer.from(viaHttp.contentBase64, 'base64').toString('utf8'), '{"2":0,"b":1,"n":1000}')
  })
})
