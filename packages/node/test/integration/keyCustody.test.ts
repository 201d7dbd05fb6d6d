// Threshold key custody end to end (issue 13b): real dev chain, tracker, three storage nodes on 127.0.0.1 (two on
// SQLite, one on PostgreSQL when it is reachable), publishers that leave for good, subscribers granted afterwards.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  ClientError,
  GroupKey,
  KeyCustody,
  MemoryKeyStore,
  openShareAsRequester,
  parseManifest,
  signManifest,
  signShareRequest,
  type RunnelClient,
  type ShareReply,
} from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import {
  MessageFrameReader,
  createPureSigner,
  decodeStreamMessage,
  toStreamPartId,
  type StreamId,
} from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import Database from 'better-sqlite3'
import pg from 'pg'
import type { Address } from 'viem'
import { combine } from 'shamir-secret-sharing'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'
import { POSTGRES_URL, checkPostgres } from '../support/postgres.js'

const MESSAGES = 24

describe('threshold key custody with the storage nodes', () => {
  let network: TestNetwork
  let directory: string
  let streamId: string
  const storageNodes: RunnelNode[] = []
  const databases: string[] = []
  let postgresSchema: string | undefined
  /** The publisher's keys, kept by the test: the publisher itself is destroyed. */
  const publisherKeys = new MemoryKeyStore()
  let publisherAddress: string
  const keyIds: string[] = []
  const clients: RunnelClient[] = []

  /** A client of dev account `index` whose key requests to publishers give up fast (custody is what is tested). */
  const clientOf = (index: number, keyStore = new MemoryKeyStore()): RunnelClient => {
    const created = createRunnelClient(
      {
        auth: { privateKey: network.dev.chain.accountKeys[index]! },
        chain: {
          provider: network.dev.chain.provider,
          contracts: network.dev.deployment,
          fromBlock: network.dev.deployment.deployBlock,
        },
        network: network.discovery,
        encryption: { keyRequestTimeoutMs: 300, keyRequestAttempts: 1 },
      },
      { keyStore },
    )
    clients.push(created)
    return created
  }

  const custodyUrl = (node: RunnelNode, path: string): string => `${node.info().endpoints.storage}/custody/${path}`

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-custody-'))
    network = await startTestNetwork()
    const owner = network.client(1)
    ;({ id: streamId } = await owner.createStream('/custody'))
    const postgresProblem = await checkPostgres()
    // CI must test both backends: a missing server fails the run there; elsewhere the third node runs on SQLite.
    if (postgresProblem !== undefined && process.env.CI !== undefined) assert.fail(postgresProblem)
    const postgres = postgresProblem === undefined
    for (const [position, index] of [5, 6, 7].entries()) {
      const database = join(directory, `storage-${index}.db`)
      databases.push(database)
      if (position === 2 && postgres) postgresSchema = `runnel_custody_${process.pid}_${randomBytes(4).toString('hex')}`
      const storage =
        postgresSchema !== undefined && position === 2
          ? { backend: 'postgres' as const, postgres: { url: POSTGRES_URL, schema: postgresSchema } }
          : { sqlite: { path: database } }
      storageNodes.push(
        await network.startNode(index, {
          plugins: {
            http: { port: 0 },
            websocket: false,
            mqtt: false,
            // The first node refuses a requester's 21st request in a minute (its rate limit is tested below).
            storage: { ...storage, custody: { maxRequestsPerMinute: position === 0 ? 20 : 60 } },
          },
        }),
      )
    }
    for (const node of storageNodes) await owner.addStreamToStorageNode(streamId, node.client.address)
    for (const node of storageNodes) {
      await waitFor(() => node.storage!.storedStreams.includes(streamId), 30_000, 'the assignments')
    }

    // The publisher: three keys (the first, one handed on by a rotation, one by a rekey), then it leaves for good.
    const publisher = clientOf(2, publisherKeys)
    publisherAddress = publisher.address.toLowerCase()
    await owner.grantPermissions(streamId, publisher.address, 'publish')
    const errors: Error[] = []
    publisher.on('error', (err) => errors.push(err))
    for (let i = 0; i < MESSAGES; i++) {
      if (i === 8) await publisher.updateEncryptionKey({ streamId, distributionMethod: 'rotate' })
      if (i === 16) await publisher.updateEncryptionKey({ streamId, distributionMethod: 'rekey' })
      await publisher.publish(streamId, { i, secret: `door code ${i}` })
    }
    for (const node of storageNodes) {
      await poll(async () => (await storedMessages(node)).length === MESSAGES, 'every node storing everything')
    }
    await publisher.destroy() // waits for its keys to be in custody
    assert.deepEqual(errors, [], 'every key went into custody')
    for (const message of await storedMessages(storageNodes[0]!)) {
      if (!keyIds.includes(message.groupKeyId!)) keyIds.push(message.groupKeyId!)
    }
    assert.equal(keyIds.length, 3)
  })

  after(async () => {
    await Promise.all(clients.map((client) => client.destroy()))
    await network?.stop()
    if (postgresSchema !== undefined) {
      const admin = new pg.Client({ connectionString: POSTGRES_URL })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS "${postgresSchema}" CASCADE`)
      await admin.end()
    }
    await rm(directory, { recursive: true, force: true })
  })

  it('lets a subscriber granted after the publisher left decrypt the whole stored history', async () => {
    const reader = clientOf(3)
    await network.client(1).grantPermissions(streamId, reader.address, 'subscribe')
    const errors: Error[] = []
    reader.on('error', (err) => errors.push(err))
    const history: unknown[] = []
    for await (const message of reader.resend(streamId, { last: 1000 })) history.push(message.content)
    assert.deepEqual(errors, [])
    assert.deepEqual(
      history,
      Array.from({ length: MESSAGES }, (_, i) => ({ i, secret: `door code ${i}` })),
    )
  })

  it('holds every share sealed: no node has any key in its database, and one share rebuilds nothing', async () => {
    const keys = await Promise.all(keyIds.map((id) => publisherKeys.get(publisherAddress, id)))
    for (const database of databases.slice(0, 2)) {
      const db = new Database(database, { readonly: true })
      const rows = db.prepare('SELECT manifest, share, group_key_id FROM key_shares').all() as {
        manifest: string
        share: Buffer
        group_key_id: string
      }[]
      db.close()
      assert.equal(rows.length, 3, 'one share per key')
      const stored = Buffer.concat(rows.flatMap((row) => [Buffer.from(row.manifest), row.share]))
      for (const key of keys) {
        const bytes = Buffer.from(key!.bytes)
        assert.ok(!stored.includes(bytes), 'no key in the clear')
        assert.ok(
          !stored.includes(Buffer.from(bytes.toString('hex'))) &&
            !stored.includes(Buffer.from(bytes.toString('base64'))),
        )
      }
      for (const row of rows) assert.equal(parseManifest(row.manifest).threshold, 2, 'a majority of 3 nodes')
    }

    if (postgresSchema !== undefined) {
      const postgres = new pg.Client({ connectionString: POSTGRES_URL })
      await postgres.connect()
      const { rows } = await postgres.query<{ share: Buffer }>(`SELECT share FROM "${postgresSchema}".key_shares`)
      await postgres.end()
      assert.equal(rows.length, 3, 'the PostgreSQL node holds one share per key too')
      const stored = Buffer.concat(rows.map((row) => row.share))
      for (const key of keys) assert.ok(!stored.includes(Buffer.from(key!.bytes)))
    }

    // A permitted subscriber that gets one node's share of a key (2 are needed) can't rebuild it.
    const reader = network.dev.chain.accountKeys[3]!
    const share = await shareFrom(storageNodes[0]!, reader, keyIds[0]!)
    assert.notDeepEqual(share.subarray(0, 32), keys[0]!.bytes)
    await assert.rejects(combine([share]), 'Shamir needs two shares at least')
    const [someMessage] = await storedMessages(storageNodes[0]!)
    await assert.rejects(new GroupKey('guess', share.subarray(0, 32)).decrypt(someMessage!.content))
    // With the share of a second node it does.
    const second = await shareFrom(storageNodes[1]!, reader, keyIds[0]!)
    assert.deepEqual(await combine([share, second]), keys[0]!.bytes)
  })

  it('rebuilds a wrong key from fewer shares than the threshold (3 of 3 set by the publisher)', async () => {
    const keyStore = new MemoryKeyStore()
    const owner = network.client(1)
    const account = network.dev.chain.accountKeys[8]!
    const signer = createPureSigner(account)
    await owner.grantPermissions(streamId, signer.address as Address, 'publish')
    const custody = new KeyCustody(
      {
        address: signer.address,
        signer,
        verifier: nativeSignatureVerifier,
        registry: owner.registry,
        keyStore,
        onError: (err) => assert.fail(err),
      },
      { threshold: 3 },
    )
    const key = GroupKey.generate()
    await keyStore.add(signer.address, key)
    custody.deposit(streamId, key.id)
    await custody.flush()
    const reader = network.dev.chain.accountKeys[3]!
    const shares = await Promise.all(storageNodes.slice(0, 2).map((node) => shareFrom(node, reader, key.id, 8)))
    const wrong = await combine(shares)
    assert.notDeepEqual(wrong, key.bytes, 'two of three shares give a key, but not this one')
    const all = [...shares, await shareFrom(storageNodes[2]!, reader, key.id, 8)]
    assert.deepEqual(await combine(all), key.bytes)
  })

  it('refuses a share to a revoked subscriber and to one never granted (PERMISSION_DENIED, KEY_UNAVAILABLE)', async () => {
    const owner = network.client(1)
    const revoked = network.dev.chain.accountKeys[4]!
    const revokedAddress = createPureSigner(revoked).address as Address
    await owner.grantPermissions(streamId, revokedAddress, 'subscribe')
    assert.ok((await shareFrom(storageNodes[1]!, revoked, keyIds[1]!)).length > 0, 'granted: it gets a share')
    await owner.revokePermissions(streamId, revokedAddress, 'subscribe')

    for (const account of [revoked, network.dev.chain.accountKeys[9]!]) {
      const response = await askShares(storageNodes[1]!, account, [keyIds[1]!])
      assert.equal(response.status, 403)
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'PERMISSION_DENIED')

      const custody = new KeyCustody({
        address: createPureSigner(account).address,
        signer: createPureSigner(account),
        verifier: nativeSignatureVerifier,
        registry: owner.registry,
        keyStore: new MemoryKeyStore(),
        onError: () => undefined,
      })
      const refused = await custody.recover(toStreamPartId(streamId as StreamId, 0), publisherAddress, keyIds[1]!).then(
        () => assert.fail('a key for someone without permission'),
        (err: unknown) => err,
      )
      assert.ok(refused instanceof ClientError && refused.code === 'KEY_UNAVAILABLE', String(refused))
      assert.match(refused.message, /no permission/)
      const perNode = (refused.cause as AggregateError).errors as ClientError[]
      assert.equal(perNode.length, 3)
      assert.ok(perNode.every((err) => err.code === 'PERMISSION_DENIED'))
    }
  })

  it('answers malformed, forged, stale, oversized and excessive requests with typed errors, and keeps serving', async () => {
    const node = storageNodes[0]!
    const reader = network.dev.chain.accountKeys[3]!
    const post = async (path: string, body: string): Promise<{ status: number; code: string; message: string }> => {
      const response = await fetch(custodyUrl(node, path), { method: 'POST', body })
      const json = (await response.json()) as { error: { code: string; message: string } }
      return { status: response.status, ...json.error }
    }
    const expect = async (path: string, body: string, status: number, code: string, message: RegExp) => {
      const answer = await post(path, body)
      assert.equal(answer.status, status, JSON.stringify(answer))
      assert.equal(answer.code, code)
      assert.match(answer.message, message)
    }
    await expect('keys', 'not json', 400, 'BAD_REQUEST', /JSON/)
    await expect('keys', '[]', 400, 'BAD_REQUEST', /share request/)
    await expect('keys', JSON.stringify({ request: '{}', signature: '0x00' }), 400, 'BAD_REQUEST', /streamId/)
    const valid = await signedRequest(reader, [keyIds[0]!])
    await expect('keys', JSON.stringify({ ...valid, signature: '0x1234' }), 400, 'BAD_REQUEST', /signature/)
    // Signed by account 9, claiming to be the permitted reader.
    const forged = await signShareRequest(
      { ...(JSON.parse(valid.request) as Parameters<typeof signShareRequest>[0]) },
      createPureSigner(network.dev.chain.accountKeys[9]!),
    )
    await expect('keys', JSON.stringify(forged), 401, 'UNAUTHORIZED', /not its requester/)
    await expect(
      'keys',
      JSON.stringify(await signedRequest(reader, [keyIds[0]!], Date.now() - 120_000)),
      400,
      'BAD_REQUEST',
      /timestamp/,
    )
    const badKey = await signedRequest(reader, [keyIds[0]!], Date.now(), Buffer.alloc(65, 4).toString('base64'))
    await expect('keys', JSON.stringify(badKey), 400, 'BAD_REQUEST', /P-256/)
    for (const [otherStream, status, errorCode] of [
      [`${streamId}-none`, 403, 'PERMISSION_DENIED'],
      ['not a stream id', 403, 'PERMISSION_DENIED'],
    ] as const) {
      const signer = createPureSigner(network.dev.chain.accountKeys[2]!)
      const request = await signShareRequest(
        {
          ...(JSON.parse(valid.request) as Parameters<typeof signShareRequest>[0]),
          streamId: otherStream,
          requester: signer.address,
        },
        signer,
      )
      await expect('keys', JSON.stringify(request), status, errorCode, /may not subscribe|no stream/)
    }
    await expect(
      'keys',
      JSON.stringify({ request: 'x'.repeat(20_000), signature: '0x' }),
      413,
      'PAYLOAD_TOO_LARGE',
      /bytes/,
    )

    // Deposits: a manifest signed by someone else than its publisher, a publisher without permission, a stream this
    // node doesn't store, a share sealed to another node.
    const [row] = new Database(databases[0], { readonly: true })
      .prepare('SELECT manifest, signature, share FROM key_shares LIMIT 1')
      .all() as {
      manifest: string
      signature: string
      share: Buffer
    }[]
    const deposit = { manifest: row!.manifest, signature: row!.signature, share: row!.share.toString('base64') }
    await expect('shares', 'null', 400, 'BAD_REQUEST', /share deposit/)
    const stranger = createPureSigner(network.dev.chain.accountKeys[9]!)
    const manifest = parseManifest(row!.manifest)
    const resigned = await signManifest(manifest, stranger)
    await expect(
      'shares',
      JSON.stringify({ ...deposit, signature: resigned.signature }),
      400,
      'BAD_REQUEST',
      /not its publisher/,
    )
    const strangers = await signManifest({ ...manifest, publisherId: stranger.address }, stranger)
    await expect('shares', JSON.stringify({ ...deposit, ...strangers }), 403, 'PERMISSION_DENIED', /may not publish/)
    const elsewhere = await signManifest(
      { ...manifest, publisherId: stranger.address, streamId: `${streamId}-x` },
      stranger,
    )
    await expect('shares', JSON.stringify({ ...deposit, ...elsewhere }), 404, 'STREAM_NOT_FOUND', /doesn't store/)
    const [otherRow] = new Database(databases[1], { readonly: true })
      .prepare('SELECT share FROM key_shares WHERE manifest = ?')
      .all(row!.manifest) as { share: Buffer }[]
    await expect(
      'shares',
      JSON.stringify({ ...deposit, share: otherRow!.share.toString('base64') }),
      400,
      'BAD_REQUEST',
      /doesn't open/,
    )
    // The genuine deposit again: kept once.
    const again = await fetch(custodyUrl(node, 'shares'), { method: 'POST', body: JSON.stringify(deposit) })
    assert.deepEqual(await again.json(), { stored: false })

    // Past 20 requests in a minute, the reader is refused until the minute is over; others are not.
    let limited: { status: number; code: string } | undefined
    for (let i = 0; i < 25 && limited === undefined; i++) {
      const response = await askShares(node, reader, [keyIds[0]!])
      if (response.status !== 200)
        limited = { status: response.status, code: ((await response.json()) as { error: { code: string } }).error.code }
    }
    assert.deepEqual(limited, { status: 429, code: 'RATE_LIMITED' })
    assert.equal(
      (await askShares(node, network.dev.chain.accountKeys[2]!, [keyIds[0]!])).status,
      403,
      'another requester is still heard',
    )

    // The node is still up and serving.
    assert.equal((await fetch(`${node.info().endpoints.storage}/health`)).status, 200)
    assert.equal((await storedMessages(node)).length, MESSAGES)
  })

  it('shares a key among the nodes that are up, and finds shares on a node since taken off the stream', async () => {
    const owner = network.client(1)
    const reader = createPureSigner(network.dev.chain.accountKeys[9]!)
    await owner.grantPermissions(streamId, reader.address as Address, 'subscribe')
    const recoverAs = (keyStore = new MemoryKeyStore()) =>
      new KeyCustody({
        address: reader.address,
        signer: reader,
        verifier: nativeSignatureVerifier,
        registry: owner.registry,
        keyStore,
        onError: () => undefined,
      })

    // The third node is down while a new publisher's key is shared: the two others hold it, 2 of 2.
    await storageNodes[2]!.stop()
    const keys = new MemoryKeyStore()
    const latePublisher = clientOf(0, keys)
    await owner.grantPermissions(streamId, latePublisher.address, 'publish')
    await latePublisher.publish(streamId, { late: true })
    await latePublisher.destroy()
    const late = latePublisher.address.toLowerCase()
    await poll(
      async () => (await storedMessages(storageNodes[0]!)).some((message) => message.publisherId === late),
      'the late message stored',
    )
    const lateMessage = (await storedMessages(storageNodes[0]!)).find((message) => message.publisherId === late)
    const lateKey = await keys.get(latePublisher.address, lateMessage!.groupKeyId!)
    const recovered = await recoverAs().recover(
      toStreamPartId(streamId as StreamId, 0),
      latePublisher.address,
      lateKey!.id,
    )
    assert.deepEqual(recovered.bytes, lateKey!.bytes)

    // Node 0 is taken off the stream; with node 2 down, node 1 alone is a current holder of the first publisher's
    // first key: the manifest names node 0 as a holder too, and node 0 still answers.
    await owner.removeStreamFromStorageNode(streamId, storageNodes[0]!.client.address)
    await waitFor(() => !storageNodes[0]!.storage!.storedStreams.includes(streamId), 30_000, 'the removal')
    const first = await recoverAs().recover(toStreamPartId(streamId as StreamId, 0), publisherAddress, keyIds[0]!)
    assert.deepEqual(first.bytes, (await publisherKeys.get(publisherAddress, keyIds[0]!))!.bytes)
  })

  async function signedRequest(account: string, groupKeyIds: string[], timestamp = Date.now(), publicKey?: string) {
    const signer = createPureSigner(account)
    return signShareRequest(
      {
        streamId,
        publisherId: publisherAddress,
        groupKeyIds,
        requester: signer.address,
        publicKey: publicKey ?? Buffer.from(await realPoint()).toString('base64'),
        timestamp,
      },
      signer,
    )
  }

  function askShares(node: RunnelNode, account: string, groupKeyIds: string[]): Promise<Response> {
    return signedRequest(account, groupKeyIds).then((request) =>
      fetch(custodyUrl(node, 'keys'), { method: 'POST', body: JSON.stringify(request) }),
    )
  }

  /** One node's share of a key, asked for and opened as `account` would. */
  async function shareFrom(node: RunnelNode, account: string, keyId: string, publisherIndex = 2): Promise<Uint8Array> {
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])
    const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey))
    const signer = createPureSigner(account)
    const request = await signShareRequest(
      {
        streamId,
        publisherId: createPureSigner(network.dev.chain.accountKeys[publisherIndex]!).address,
        groupKeyIds: [keyId],
        requester: signer.address,
        publicKey: Buffer.from(publicKey).toString('base64'),
        timestamp: Date.now(),
      },
      signer,
    )
    const response = await fetch(custodyUrl(node, 'keys'), { method: 'POST', body: JSON.stringify(request) })
    assert.equal(response.status, 200, await response.clone().text())
    const reply = (await response.json()) as ShareReply
    assert.equal(reply.shares.length, 1)
    const [deposit] = reply.shares
    return openShareAsRequester(
      { publicKey, privateKey: pair.privateKey },
      new Uint8Array(Buffer.from(deposit!.share, 'base64')),
      deposit!.manifest,
    )
  }

  async function storedMessages(node: RunnelNode) {
    const url = `${node.info().endpoints.storage}/streams/${encodeURIComponent(streamId)}/data/partitions/0/last?count=1000&format=binary`
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer())
    const reader = new MessageFrameReader()
    const messages = reader.push(bytes).map((encoded) => decodeStreamMessage(encoded))
    reader.end()
    return messages
  }
})

/** Polls an async condition every 50 ms until it holds, for at most 30 s. */
async function poll(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A one-off P-256 public key, uncompressed. */
async function realPoint(): Promise<Uint8Array> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])
  return new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey))
}
