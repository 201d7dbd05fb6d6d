import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Address } from 'viem'
import { FOREVER, PUBLIC, streamRegistryAbi, toChainError, type PermissionName } from '../../src/index.js'
import { assertChainError, startTestChain, type TestChain } from '../fixtures.js'

const PERMISSIONS: PermissionName[] = ['edit', 'delete', 'publish', 'subscribe', 'grant']

describe('StreamRegistry on the embedded chain', () => {
  let chain: TestChain
  let owner: ReturnType<TestChain['registryFor']>
  let alice: ReturnType<TestChain['registryFor']>
  let bob: ReturnType<TestChain['registryFor']>
  let pathCounter = 0
  const nextPath = (): string => `/test/stream-${pathCounter++}`

  before(async () => {
    chain = await startTestChain()
    owner = chain.registryFor(1)
    alice = chain.registryFor(2)
    bob = chain.registryFor(3)
  })

  after(() => chain.stop())

  describe('streams', () => {
    it('creates <creator>/<path> with its metadata and gives the creator every permission', async () => {
      const stream = await owner.createStream('/sensors/temperature', {
        partitions: 3,
        description: 'temp',
        extra: [1],
      })
      assert.equal(stream.id, `${owner.account.toLowerCase()}/sensors/temperature`)
      assert.deepEqual((await owner.getStream(stream.id)).metadata, { partitions: 3, description: 'temp', extra: [1] })
      for (const permission of PERMISSIONS) assert.ok(await owner.hasPermission(stream.id, owner.account, permission))
      assert.deepEqual(await owner.getUserPermissions(stream.id, owner.account), {
        canEdit: true,
        canDelete: true,
        publishExpiration: FOREVER,
        subscribeExpiration: FOREVER,
        canGrant: true,
      })
    })

    it('refuses a second stream at the same id', async () => {
      const path = nextPath()
      await owner.createStream(path)
      await assertChainError(owner.createStream(path), 'STREAM_ALREADY_EXISTS', /exists already/)
    })

    it('refuses invalid paths, naming the rule', async () => {
      for (const [path, rule] of [
        ['/a//b', /empty segment/],
        ['/a b', /characters/],
        ['/a/..', /segment \. or \.\./],
        ['/', /length/],
        [`/${'x'.repeat(255)}`, /length/],
      ] as const) {
        await assertChainError(owner.createStream(path), 'INVALID_PATH', rule)
      }
      await assertChainError(owner.createStream('no-slash'), 'INVALID_ARGUMENT', /creator's address/)
    })

    it('checks metadata in the client before sending', async () => {
      for (const metadata of [{ partitions: 0 }, { partitions: 101 }, { partitions: 1.5 }, { storageDays: -1 }]) {
        await assertChainError(owner.createStream(nextPath(), metadata), 'INVALID_METADATA')
      }
    })

    it('checks metadata on chain too, when a caller bypasses the client', async () => {
      const wallet = chain.walletFor(1)
      const bad = [
        '{"a":}',
        '[]',
        '{"partitions": 101}',
        '{"partitions": 0}',
        '{"partitions": 2.5}',
        '{"a": 1} x',
        '{"a": "\u0001"}',
        '',
      ]
      for (const metadata of bad) {
        const error = await chain.publicClient
          .simulateContract({
            address: chain.deployment.streamRegistry,
            abi: streamRegistryAbi,
            functionName: 'createStream',
            args: [nextPath(), metadata],
            account: wallet.account,
          })
          .then(
            () => undefined,
            (err: unknown) => toChainError(err),
          )
        assert.equal(error?.code, 'INVALID_METADATA', `${JSON.stringify(metadata)} was accepted`)
      }
      const good = '{"partitions": 100, "storageDays": 30, "nested": {"a": [true, false, null, -1.5e3, "\\u00e4"]}}'
      await chain.publicClient.simulateContract({
        address: chain.deployment.streamRegistry,
        abi: streamRegistryAbi,
        functionName: 'createStream',
        args: [nextPath(), good],
        account: wallet.account,
      })
    })

    it('updates and deletes only with edit and delete permissions', async () => {
      const { id } = await owner.createStream(nextPath(), { partitions: 1 })
      await assertChainError(alice.updateStream(id, { partitions: 2 }), 'PERMISSION_DENIED', /may not edit/)
      await assertChainError(alice.deleteStream(id), 'PERMISSION_DENIED', /may not delete/)
      await owner.grantPermission(id, alice.account, 'edit')
      await alice.updateStream(id, { partitions: 2 })
      assert.deepEqual((await owner.getStream(id)).metadata, { partitions: 2 })
      await owner.deleteStream(id)
      await assertChainError(owner.getStream(id), 'STREAM_NOT_FOUND')
      assert.equal(await owner.streamExists(id), false)
    })

    it('forgets all permissions when a stream is deleted and created again', async () => {
      const path = nextPath()
      const { id } = await owner.createStream(path)
      await owner.grantPermission(id, alice.account, 'publish')
      await owner.deleteStream(id)
      await owner.createStream(path)
      assert.equal(await owner.hasPermission(id, alice.account, 'publish'), false)
    })
  })

  describe('permissions', () => {
    let id: string
    before(async () => {
      ;({ id } = await owner.createStream(nextPath()))
    })

    it('lets only holders of grant change permissions', async () => {
      for (const permission of PERMISSIONS) {
        await assertChainError(
          alice.grantPermission(id, bob.account, permission),
          'PERMISSION_DENIED',
          new RegExp(`${alice.account.toLowerCase()} may not grant on ${id}`),
        )
      }
      await owner.grantPermission(id, alice.account, 'grant')
      for (const permission of PERMISSIONS) {
        await alice.grantPermission(id, bob.account, permission)
        assert.ok(await owner.hasPermission(id, bob.account, permission), `bob should hold ${permission}`)
        await alice.revokePermission(id, bob.account, permission)
        assert.equal(await owner.hasPermission(id, bob.account, permission), false, `bob should not hold ${permission}`)
      }
    })

    it('lets anyone give up their own permission, and no one take another’s without grant', async () => {
      await owner.grantPermission(id, bob.account, 'subscribe')
      await assertChainError(chain.registryFor(4).revokePermission(id, bob.account, 'subscribe'), 'PERMISSION_DENIED')
      await bob.revokePermission(id, bob.account, 'subscribe')
      assert.equal(await owner.hasPermission(id, bob.account, 'subscribe'), false)
    })

    it('honours publish and subscribe expirations in the past and the future', async () => {
      const block = await chain.publicClient.getBlock()
      const user = chain.registryFor(5).account
      await owner.setPermissions(id, user, {
        canEdit: false,
        canDelete: false,
        publishExpiration: block.timestamp - 10n,
        subscribeExpiration: block.timestamp + 3_600n,
        canGrant: false,
      })
      assert.equal(await owner.hasPermission(id, user, 'publish'), false)
      assert.equal(await owner.hasPermission(id, user, 'subscribe'), true)
    })

    it('makes publish and subscribe public through the zero address, and nothing else', async () => {
      const stranger = chain.registryFor(6).account
      assert.equal(await owner.hasPermission(id, stranger, 'subscribe'), false)
      await owner.grantPermission(id, PUBLIC, 'subscribe')
      assert.equal(await owner.hasPermission(id, stranger, 'subscribe'), true)
      assert.equal(await owner.hasPermission(id, stranger, 'publish'), false)
      for (const permission of ['edit', 'delete', 'grant'] as const) {
        await assertChainError(
          owner.grantPermission(id, PUBLIC, permission),
          'INVALID_PUBLIC_PERMISSION',
          /can't be public/,
        )
      }
      await owner.revokePermission(id, PUBLIC, 'subscribe')
      assert.equal(await owner.hasPermission(id, stranger, 'subscribe'), false)
    })

    it('lists who holds what, from events', async () => {
      const { id: listed } = await owner.createStream(nextPath())
      await owner.grantPermission(listed, alice.account, 'publish')
      const permissions = await owner.getPermissions(listed)
      assert.deepEqual(
        new Set([...permissions.keys()].map((address) => address.toLowerCase())),
        new Set([owner.account.toLowerCase(), alice.account.toLowerCase()]),
      )
      assert.equal(permissions.get(alice.account.toLowerCase() as Address)?.publishExpiration, FOREVER)
    })
  })

  describe('search', () => {
    it('finds streams by path term and by permission', async () => {
      const unique = `search-${Date.now()}`
      const a = await owner.createStream(`/${unique}/a`)
      const b = await owner.createStream(`/${unique}/b`)
      await owner.grantPermission(b.id, PUBLIC, 'subscribe')
      await owner.grantPermission(a.id, alice.account, 'publish')
      const byTerm = await owner.searchStreams({ term: unique })
      assert.deepEqual(byTerm.map((s) => s.id).sort(), [a.id, b.id].sort())
      const alicePublishes = await owner.searchStreams({ term: unique, user: alice.account, permission: 'publish' })
      assert.deepEqual(
        alicePublishes.map((s) => s.id),
        [a.id],
      )
      const bobSubscribes = await owner.searchStreams({ term: unique, user: bob.account, permission: 'subscribe' })
      assert.deepEqual(
        bobSubscribes.map((s) => s.id),
        [b.id],
        'public subscribe counts for everyone',
      )
      await owner.deleteStream(a.id)
      assert.deepEqual(
        (await owner.searchStreams({ term: unique })).map((s) => s.id),
        [b.id],
      )
    })
  })

  describe('events', () => {
    it('reports every change to watchers', async () => {
      const events: string[] = []
      const unwatch = owner.watchEvents((event) =>
        events.push(`${event.type} ${'streamId' in event ? event.streamId : ''}`),
      )
      try {
        const { id } = await owner.createStream(nextPath())
        await owner.updateStream(id, { description: 'x' })
        await owner.grantPermission(id, alice.account, 'publish')
        await owner.deleteStream(id)
        const deadline = Date.now() + 10_000
        while (events.filter((e) => e.startsWith('streamDeleted')).length === 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        // The watch may also report the block that was latest when it started; only this stream's events count.
        assert.deepEqual(
          events.filter((e) => e.endsWith(` ${id}`)).map((e) => e.split(' ')[0]),
          ['streamCreated', 'permissionUpdated', 'streamUpdated', 'permissionUpdated', 'streamDeleted'],
        )
      } finally {
        unwatch()
      }
    })
  })
})
