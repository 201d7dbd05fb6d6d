import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { ReceivedMessage } from '@runnel/client'
import { EncryptionType, decodeStreamMessage } from '@runnel/protocol'
import Database from 'better-sqlite3'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const SECRET = 'greenhouse-7 door code 4711'

describe('encrypted streams through the node daemon', () => {
  let network: TestNetwork
  let directory: string
  let streamId: string
  let storageNode: RunnelNode
  let database: string

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-encryption-'))
    network = await startTestNetwork()
    const owner = network.client(1)
    ;({ id: streamId } = await owner.createStream('/private'))
    database = join(directory, 'storage.db')
    storageNode = await network.startNode(5, {
      plugins: { http: { port: 0 }, websocket: false, mqtt: false, storage: { sqlite: { path: database } } },
    })
    await owner.addStreamToStorageNode(streamId, storageNode.client.address)
    await waitFor(() => storageNode.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
  })
  after(async () => {
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it('publishes over HTTP encrypted: subscribers read it, the storage node holds only ciphertext, history decrypts', async () => {
    const owner = network.client(1)
    const keyStorePath = join(directory, 'keys', 'keys.json')
    const apiNode = await network.startNode(2, {
      encryption: { keyStorePath },
      plugins: { http: { port: 0 }, websocket: false, mqtt: false },
    })
    const reader = network.client(3)
    await owner.grantPermissions(streamId, apiNode.client.address, 'publish')
    await owner.grantPermissions(streamId, reader.address, 'subscribe')
    const received: ReceivedMessage[] = []
    await reader.subscribe(streamId, (message) => received.push(message))

    const response = await fetch(`${apiNode.info().endpoints.http}/streams/${encodeURIComponent(streamId)}`, {
      method: 'POST',
      body: JSON.stringify({ secret: SECRET }),
    })
    assert.equal(response.status, 200, await response.clone().text())
    await waitFor(() => received.length === 1, 30_000, 'the message')
    assert.deepEqual(received[0]!.content, { secret: SECRET })
    await reader.waitForStorage(received[0]!)

    // The stored bytes, read from the storage node's SQLite file itself.
    const db = new Database(database, { readonly: true })
    const rows = db.prepare('SELECT payload FROM messages WHERE stream_id = ?').all(streamId) as { payload: Buffer }[]
    db.close()
    assert.equal(rows.length, 1)
    assert.ok(!rows[0]!.payload.toString('latin1').includes('door code'), 'no plaintext stored')
    assert.equal(decodeStreamMessage(rows[0]!.payload).encryptionType, EncryptionType.Aes)

    // Over plain HTTP, history shows the ciphertext for what it is.
    const ndjson = await fetch(
      `${storageNode.info().endpoints.storage}/streams/${encodeURIComponent(streamId)}/data/partitions/0/last?count=1`,
    )
    const line = JSON.parse(await ndjson.text()) as { encrypted: boolean; content: string; contentType: string }
    assert.equal(line.encrypted, true)
    assert.equal(line.contentType, 'json', 'the type of the plaintext')
    assert.ok(!Buffer.from(line.content, 'base64').toString('latin1').includes('door code'))

    // History decrypts for a subscriber that can obtain the key.
    const later = network.client(4)
    await owner.grantPermissions(streamId, later.address, 'subscribe')
    const errors: Error[] = []
    later.on('error', (err) => errors.push(err))
    const history: unknown[] = []
    for await (const message of later.resend(streamId, { last: 10 })) history.push(message.content)
    assert.deepEqual(errors, [])
    assert.deepEqual(history, [{ secret: SECRET }])

    // The node's keys are on disk, private to its user.
    assert.equal((await stat(keyStorePath)).mode & 0o777, 0o600)
    await apiNode.stop()
    const restarted = await network.startNode(2, {
      encryption: { keyStorePath },
      plugins: { http: { port: 0 }, websocket: false, mqtt: false },
    })
    const keyId = received[0]!.streamMessage.groupKeyId!
    assert.ok(await restarted.keyStore!.get(restarted.address, keyId), 'the key survived the restart')
  })
})
