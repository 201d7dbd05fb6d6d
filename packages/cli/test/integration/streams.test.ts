import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { addressFromPrivateKey, toChecksumAddress } from '@runnel/protocol'
import { describeResult, runCliProcess, startLocalNetwork, type LocalNetwork } from './helpers.js'
import { testDiscoveryMode } from '../../../client/test/support/discovery.js'

// Chain commands only: no node joins the network, so the dht-mode run (npm run test:dht) would repeat them as they are.
describe(
  'runnel identity and runnel stream, against a dev chain',
  { skip: testDiscoveryMode() === 'dht' ? 'chain only: the tracker-mode run covers it' : false },
  () => {
    let network: LocalNetwork
    let owner: string // dev account 1, lowercase
    let other: string // dev account 2, lowercase
    before(async () => {
      network = await startLocalNetwork()
      owner = addressFromPrivateKey(network.dev.chain.accountKeys[1]!)
      other = addressFromPrivateKey(network.dev.chain.accountKeys[2]!)
    })
    after(() => network.stop())

    it('identity create writes a 0600 identity file that identity show then reads, and refuses to overwrite it', async () => {
      const home = join(network.dir, 'identity-home')
      const env = network.env(undefined, home)
      const created = await runCliProcess(['identity', 'create', '--json'], env)
      assert.equal(created.code, 0, describeResult(created))
      const { address, path } = JSON.parse(created.stdout) as { address: string; path: string }
      assert.equal(path, join(home, 'identity.json'))
      assert.equal((await stat(path)).mode & 0o777, 0o600)

      const shown = await runCliProcess(['identity', 'show'], env)
      assert.equal(shown.code, 0, describeResult(shown))
      assert.equal(shown.stdout, `${address}\n`)
      assert.match(shown.stderr, /from identity file .*identity\.json/)

      const again = await runCliProcess(['identity', 'create'], env)
      assert.equal(again.code, 3, describeResult(again))
      assert.match(again.stderr, /^runnel: .*identity\.json exists already; pass --force/)
      const replaced = await runCliProcess(['identity', 'create', '--force', '--json'], env)
      assert.equal(replaced.code, 0, describeResult(replaced))
      assert.notEqual((JSON.parse(replaced.stdout) as { address: string }).address, address)
    })

    it('identity show prints the key a flag gives, over the environment and the identity file', async () => {
      const key = network.dev.chain.accountKeys[3]!
      const shown = await runCliProcess(['identity', 'show', '--json', '--private-key', key], network.env(1))
      assert.equal(shown.code, 0, describeResult(shown))
      assert.deepEqual(JSON.parse(shown.stdout), {
        address: toChecksumAddress(addressFromPrivateKey(key)),
        source: '--private-key',
      })
    })

    it('creates, shows, grants, lists, searches, revokes and deletes a stream, with the documented exit codes', async () => {
      const env = network.env(1)
      const id = `${owner}/cli/lifecycle`

      const created = await runCliProcess(
        [
          'stream',
          'create',
          '/cli/lifecycle',
          '--partitions',
          '3',
          '--description',
          'made by the CLI',
          '--storage-days',
          '7',
        ],
        env,
      )
      assert.equal(created.code, 0, describeResult(created))
      assert.match(created.stdout, new RegExp(`^${id}\\n {2}partitions {3}3\\n {2}description {2}made by the CLI\\n`))

      const duplicate = await runCliProcess(['stream', 'create', '/cli/lifecycle'], env)
      assert.equal(duplicate.code, 3, describeResult(duplicate))
      assert.match(duplicate.stderr, /^runnel: STREAM_ALREADY_EXISTS: /)

      const shown = await runCliProcess(['stream', 'show', id, '--json'], network.env())
      assert.equal(shown.code, 0, describeResult(shown))
      assert.deepEqual(JSON.parse(shown.stdout), {
        id,
        partitions: 3,
        metadata: { partitions: 3, description: 'made by the CLI', storageDays: 7 },
      })

      const granted = await runCliProcess(['stream', 'grant', id, 'public', 'publish', 'subscribe'], env)
      assert.equal(granted.code, 0, describeResult(granted))
      assert.equal(granted.stdout, `granted publish, subscribe on ${id} to public\n`)
      const grantedOther = await runCliProcess(['stream', 'grant', '/cli/lifecycle', other, 'edit', '--json'], env)
      assert.equal(grantedOther.code, 0, describeResult(grantedOther))

      const permissions = await runCliProcess(['stream', 'permissions', id, '--json'], env)
      assert.equal(permissions.code, 0, describeResult(permissions))
      assert.deepEqual(JSON.parse(permissions.stdout), {
        id,
        permissions: [
          { user: 'public', permissions: ['publish', 'subscribe'] },
          { user: owner, permissions: ['edit', 'delete', 'publish', 'subscribe', 'grant'] },
          { user: other, permissions: ['edit'] },
        ],
      })
      const permissionsText = await runCliProcess(['stream', 'permissions', id], env)
      assert.match(permissionsText.stdout, /^public {2,}publish, subscribe\n/)

      const found = await runCliProcess(['stream', 'search', 'cli/life'], network.env())
      assert.equal(found.code, 0, describeResult(found))
      assert.equal(found.stdout, `${id}\n`)
      const byUser = await runCliProcess(['stream', 'search', '--user', other, '--json'], network.env())
      assert.deepEqual(
        (JSON.parse(byUser.stdout) as { id: string }[]).map((stream) => stream.id),
        [id],
        describeResult(byUser),
      )
      const byPermission = await runCliProcess(
        ['stream', 'search', '--user', other, '--permission', 'grant'],
        network.env(),
      )
      assert.equal(byPermission.stdout, '', describeResult(byPermission))

      const revoked = await runCliProcess(['stream', 'revoke', id, other, 'edit'], env)
      assert.equal(revoked.code, 0, describeResult(revoked))
      assert.equal(revoked.stdout, `revoked edit on ${id} from ${other}\n`)

      const refused = await runCliProcess(['stream', 'delete', id], network.env(2))
      assert.equal(refused.code, 5, describeResult(refused))
      assert.match(refused.stderr, /^runnel: PERMISSION_DENIED: /)

      const deleted = await runCliProcess(['stream', 'delete', id], env)
      assert.equal(deleted.code, 0, describeResult(deleted))
      assert.equal(deleted.stdout, `deleted ${id}\n`)

      for (const args of [
        ['stream', 'show', id],
        ['stream', 'permissions', id],
        ['stream', 'delete', id],
        ['stream', 'grant', id, 'public', 'subscribe'],
      ]) {
        const missing = await runCliProcess(args, env)
        assert.equal(missing.code, 4, `runnel ${args.join(' ')}: ${describeResult(missing)}`)
        assert.match(missing.stderr, /^runnel: STREAM_NOT_FOUND: /)
      }
    })

    // Each process has its own send queue: only the retry on a taken nonce keeps them from refusing each other.
    it('all succeed when several runnel processes write with one key at once', async () => {
      const env = network.env(3)
      const paths = Array.from({ length: 4 }, (_, i) => `/cli/parallel/${i}`)
      const results = await Promise.all(paths.map((path) => runCliProcess(['stream', 'create', path], env)))
      for (const result of results) assert.equal(result.code, 0, describeResult(result))
      const listed = await runCliProcess(['stream', 'search', '/cli/parallel/'], env)
      assert.equal(listed.code, 0, describeResult(listed))
      for (const path of paths) assert.ok(listed.stdout.includes(path), `${path} in ${listed.stdout}`)
    })

    it('exits 3 for an invalid stream path or a bad address, before any transaction', async () => {
      const badPath = await runCliProcess(['stream', 'create', '/has space'], network.env(1))
      assert.equal(badPath.code, 3, describeResult(badPath))
      const badUser = await runCliProcess(['stream', 'grant', `${owner}/x`, '0x1234', 'publish'], network.env(1))
      assert.equal(badUser.code, 3, describeResult(badUser))
      assert.match(badUser.stderr, /^runnel: <user>: expected 0x followed by 40 hex digits/)
    })

    it('exits 6 when the JSON-RPC endpoint is unreachable', async () => {
      const result = await runCliProcess(
        ['stream', 'show', `${owner}/anything`, '--rpc', 'http://127.0.0.1:1'],
        network.env(1),
      )
      assert.equal(result.code, 6, describeResult(result))
      assert.match(result.stderr, /^runnel: RPC_ERROR: /)
      assert.doesNotMatch(result.stderr, /\n {4}at /, 'no stack trace without RUNNEL_DEBUG=1')
    })
  },
)
