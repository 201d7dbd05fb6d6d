import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { DataUnionStateServer, RunnelNode } from '@runnel/node'
import { addressFromPrivateKey } from '@runnel/protocol'
import { parseUnits } from 'viem'
import { generatePrivateKey } from 'viem/accounts'
import { runCli, type CliContext } from '../../src/index.js'
import { describeResult, runCliProcess, startLocalNetwork, type LocalNetwork } from './helpers.js'
import { testDiscoveryMode } from '../../../client/test/support/discovery.js'
import { waitFor } from '../../../client/test/helpers.js'

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

type Json = Record<string, unknown>

const SECRET = 'cli-join-secret'

/**
 * `runnel product` and `runnel du` against a dev chain on 127.0.0.1: a Data Union sells a stream as a product, a buyer
 * buys an hour, the members' shares are read and withdrawn (one through a signature another key sends), a member joins
 * through a node's join server; and each refusal as its exit code and one-line message. Commands run in this process
 * (`runCli`, what `bin.ts` runs); one runs as a child process to show the same exit there.
 *
 * Accounts: 1 owns the stream, the union and the product; 2 and 3 are members (weights 1 and 3); 4 is the join
 * server's node; 5 buys; 6 sends 3's signed withdrawal.
 */
describe(
  'runnel product and du, against a dev chain',
  { skip: testDiscoveryMode() === 'dht' ? 'chain only: the tracker-mode run covers it' : false },
  () => {
    let network: LocalNetwork
    let streamId: string
    let union: string
    let productId: number
    let joinServer: RunnelNode
    const address = (account: number): string => addressFromPrivateKey(network.dev.chain.accountKeys[account]!)

    async function run(who: number | Record<string, string> | undefined, ...args: string[]): Promise<Run> {
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      const chunks = { stdout: '', stderr: '' }
      stdout.on('data', (chunk: Buffer) => (chunks.stdout += chunk.toString()))
      stderr.on('data', (chunk: Buffer) => (chunks.stderr += chunk.toString()))
      const stdin = new PassThrough()
      stdin.end()
      const env = typeof who === 'object' ? { ...network.env(), ...who } : network.env(who)
      const context: CliContext = { stdout, stderr, stdin, env, homedir: network.dir }
      const code = await runCli(['node', 'runnel', ...args], context)
      return { code, ...chunks }
    }

    async function json<T = Json>(who: number | Record<string, string> | undefined, ...args: string[]): Promise<T> {
      const result = await run(who, ...args, '--json')
      assert.equal(result.code, 0, `runnel ${args.join(' ')}: ${describeResult({ ...result, signal: null })}`)
      return JSON.parse(result.stdout) as T
    }

    async function refused(exitCode: number, message: RegExp, who: number | undefined, ...args: string[]) {
      const result = await run(who, ...args)
      assert.equal(result.code, exitCode, `runnel ${args.join(' ')}: ${describeResult({ ...result, signal: null })}`)
      assert.match(result.stderr, message)
      // One line (and commander's usage hint), no stack trace.
      assert.equal(result.stderr.trim().split('\n').length, exitCode === 2 ? 2 : 1, result.stderr)
      assert.equal(result.stdout, '')
    }

    before(async () => {
      network = await startLocalNetwork()
      streamId = (await network.dev.registryFor(1).createStream('/market/cli')).id
    })
    after(async () => {
      await joinServer?.stop()
      await network.stop()
    })

    it('sells a stream for a Data Union, shares the revenue and withdraws it, directly and signed', async () => {
      const created = await json(
        1,
        'du',
        'create',
        '--admin-fee',
        '10',
        '--join-agent',
        address(4),
        '--metadata',
        'cli',
      )
      union = created.address as string
      assert.equal(created.adminFeePercent, 10)
      assert.equal(created.admin, address(1))
      assert.deepEqual(await json(1, 'du', 'list'), [union])
      assert.equal((await json(1, 'du', 'join', union, '--member', address(2))).status, 'active')
      assert.equal((await json(1, 'du', 'join', union, '--member', address(3), '--weight', '3')).weight, '3')

      const product = await json(
        1,
        'product',
        'create',
        '--name',
        'Market CLI',
        '--stream',
        '/market/cli',
        '--beneficiary',
        union,
        '--price',
        '0.001',
        '--minimum-period',
        '1m',
        '--terms',
        'https://example.org/terms',
      )
      productId = product.id as number
      assert.deepEqual(product.streams, [streamId])
      assert.equal(product.beneficiaryIsDataUnion, true)
      assert.equal((product.prices as Json[])[0]!.pricePerSecond, '0.001')
      assert.equal(product.minimumSeconds, 60)
      const listed = await run(undefined, 'product', 'list')
      assert.match(listed.stdout, new RegExp(`^${productId} {2}Market CLI {2}0\\.001 RNL/s {2}1 stream\\n`))
      const shown = await run(undefined, 'product', 'show', String(productId))
      assert.match(shown.stdout, /beneficiary +0x[0-9a-f]{40} \(Data Union\)/)
      assert.match(shown.stdout, /minimum period +1m/)

      const bought = await json(5, 'product', 'buy', String(productId), '--period', '1h')
      assert.equal(bought.paid, '3.6')
      assert.equal(bought.seconds, 3600)
      const text = await run(5, 'product', 'buy', String(productId), '--period', '60s')
      assert.match(text.stdout, /^bought 1m of product \d+ for 0\.06 RNL; access until \d{4}-/)
      const subscription = await json(5, 'product', 'subscription', String(productId))
      assert.equal(subscription.active, true)
      assert.equal(subscription.endsAt, (bought.endsAt as number) + 60)
      const subscriptions = await json<Json[]>(undefined, 'product', 'subscriptions', '--subscriber', address(5))
      assert.deepEqual(
        subscriptions.map((each) => [each.productId, each.active]),
        [[productId, true]],
      )

      // 3.66 RNL, less the 10% fee, split 1:3.
      const stats = await json(2, 'du', 'stats', union)
      assert.equal(stats.totalRevenue, '3.66')
      assert.equal(stats.adminEarned, '0.366')
      assert.equal((stats.you as Json).earned, '0.8235')
      const members = await json<Json[]>(undefined, 'du', 'members', union)
      assert.deepEqual(
        members.map((member) => [member.address, member.weight, member.withdrawable]),
        [
          [address(2), '1', '0.8235'],
          [address(3), '3', '2.4705'],
        ],
      )

      const withdrawn = await json(2, 'du', 'withdraw', union)
      assert.equal(withdrawn.amount, '0.8235')
      const signed = await run(3, 'du', 'withdraw', union, '--sign-only')
      assert.equal(signed.code, 0, describeResult({ ...signed, signal: null }))
      const withdrawal = JSON.parse(signed.stdout) as Json
      assert.equal(withdrawal.member, address(3))
      assert.equal(withdrawal.amount, '2470500000000000000')
      const file = join(network.dir, 'withdrawal.json')
      await writeFile(file, signed.stdout)
      const before = await json(3, 'token', 'balance')
      const sent = await json(6, 'du', 'withdraw-signed', union, '--signature-file', file)
      assert.equal(sent.amount, '2.4705')
      const afterwards = await json(3, 'token', 'balance')
      assert.equal(
        parseUnits(afterwards.balance as string, 18) - parseUnits(before.balance as string, 18),
        parseUnits('2.4705', 18),
      )
      // Its nonce is used: the same signature again is refused.
      await refused(5, /signature|INVALID_SIGNATURE/i, 6, 'du', 'withdraw-signed', union, '--signature-file', file)

      await json(1, 'du', 'part', union, '--member', address(2))
      const all = await json<Json[]>(undefined, 'du', 'members', union, '--all')
      assert.deepEqual(
        all.map((member) => [member.address, member.status]),
        [
          [address(2), 'parted'],
          [address(3), 'active'],
        ],
      )
    })

    it("reads members from the union's state servers, naming one that disagrees with the others", async () => {
      const servers: DataUnionStateServer[] = []
      try {
        for (const tampered of [false, false, true]) {
          let altered = false
          const server = new DataUnionStateServer(
            { dataUnions: [union as `0x${string}`], pollIntervalMs: 100 },
            {
              publicClient: network.dev.publicClient,
              // The third instance is fed one altered revenue: its state, and so its hash, differ from the others'.
              ...(tampered && {
                eventFilter: (event) => {
                  if (event.type !== 'RevenueReceived' || altered) return event
                  altered = true
                  return { ...event, amount: event.amount + 1n }
                },
              }),
            },
          )
          await server.start()
          servers.push(server)
        }
        const head = await network.dev.publicClient.getBlockNumber({ cacheTime: 0 })
        await waitFor(
          () => servers.every((server) => (server.head ?? -1n) >= head),
          30_000,
          'the state servers to reach the chain head',
        )
        const urls = servers.map((server) => server.baseUrl!)
        const result = await run(undefined, 'du', 'members', union, '--all', '--json', '--state-server', ...urls)
        assert.equal(result.code, 0, describeResult({ ...result, signal: null }))
        assert.match(
          result.stderr,
          new RegExp(`state server ${urls[2]!.replace(/[.]/g, '\\.')} disagrees with the majority`),
        )
        const fromChain = await json<Json[]>(undefined, 'du', 'members', union, '--all')
        const fromServers = JSON.parse(result.stdout) as Json[]
        const byAddress = (members: Json[]) =>
          [...members].sort((a, b) => String(a.address).localeCompare(String(b.address)))
        assert.deepEqual(byAddress(fromServers), byAddress(fromChain), 'the servers agree with the chain')
      } finally {
        await Promise.all(servers.map((server) => server.stop()))
      }
    })

    it('joins through a join server with a signed request, and is refused with a wrong secret', async () => {
      joinServer = new RunnelNode({
        privateKey: network.dev.chain.accountKeys[4]!,
        network: network.discovery,
        metrics: { publish: false },
        log: { level: 'silent' },
        chain: { rpcUrl: network.rpcUrl },
        plugins: { dataUnionJoin: { port: 0, dataUnions: { [union]: { secrets: [SECRET] } } } },
      })
      await joinServer.start()
      const url = joinServer.dataUnionJoin!.url!
      // The new member's key holds no ETH: signing needs none.
      const key = generatePrivateKey()
      const member = { RUNNEL_PRIVATE_KEY: key }
      const wrong = await run(member, 'du', 'join', union, '--join-server', url, '--secret', 'nope-nope-nope')
      assert.equal(wrong.code, 5, describeResult({ ...wrong, signal: null }))
      assert.match(wrong.stderr, /^runnel: .*wrong secret/)
      const joined = await json(member, 'du', 'join', union, '--join-server', url, '--secret', SECRET)
      assert.equal(joined.member, addressFromPrivateKey(key))
      assert.match(joined.txHash as string, /^0x[0-9a-f]{64}$/)
      const again = await run(member, 'du', 'join', union, '--join-server', url, '--secret', SECRET)
      assert.equal(again.code, 3, describeResult({ ...again, signal: null }))
      assert.match(again.stderr, /member already/)
      const members = await json<Json[]>(undefined, 'du', 'members', union)
      assert.ok(members.some((each) => each.address === addressFromPrivateKey(key)))
      assert.equal((await json(member, 'du', 'part', union, '--join-server', url)).member, addressFromPrivateKey(key))
    })

    it('refuses bad input with one line and the right exit code', async () => {
      const id = String(productId)
      const stranger = `0x${'42'.repeat(20)}`
      await refused(3, /doesn't accept token/, 5, 'product', 'buy', id, '--period', '1h', '--token', stranger)
      await refused(3, /--period: "0" is zero/, 5, 'product', 'buy', id, '--period', '0')
      await refused(3, /--period: "1x" is not a duration/, 5, 'product', 'buy', id, '--period', '1x')
      await refused(3, /--period: .* longer than 100 years/, 5, 'product', 'buy', id, '--period', '99999999999999w')
      await refused(3, /period|INVALID_PERIOD|minimum/i, 5, 'product', 'buy', id, '--period', '10s')
      await refused(4, /product|PRODUCT_NOT_FOUND/i, 5, 'product', 'show', '999')
      await refused(4, /product|PRODUCT_NOT_FOUND/i, 5, 'product', 'buy', '999', '--period', '1h')
      await refused(2, /<id> must be a whole number/, 5, 'product', 'show', 'abc')
      await refused(3, /--beneficiary/, 1, 'product', 'update', id, '--beneficiary', '0x123')
      await refused(3, /--admin-fee: "101" is more than 100%/, 1, 'du', 'create', '--admin-fee', '101')
      await refused(3, /<dataUnion>/, 1, 'du', 'stats', 'not-an-address')
      await refused(4, /not a Data Union/, 1, 'du', 'stats', stranger)
      await refused(3, /--weight/, 1, 'du', 'join', union, '--member', address(7), '--weight', '0')
      const garbage = join(network.dir, 'garbage.json')
      await writeFile(garbage, '{"dataUnion": 12')
      await refused(3, /not valid JSON/, 6, 'du', 'withdraw-signed', union, '--signature-file', garbage)
      await writeFile(garbage, JSON.stringify({ dataUnion: union, member: stranger, to: stranger, amount: 'x' }))
      await refused(3, /amount must be/, 6, 'du', 'withdraw-signed', union, '--signature-file', garbage)
      await refused(3, /can't read/, 6, 'du', 'withdraw-signed', union, '--signature-file', join(network.dir, 'none'))
      await refused(3, /join-server.*not an http/, 7, 'du', 'join', union, '--join-server', 'ftp://x', '--secret', 's')
      await refused(6, /can't reach the join server/, 7, 'du', 'join', union, '--join-server', 'http://127.0.0.1:9')
      // The same exit from the installed binary.
      const child = await runCliProcess(['product', 'show', '999'], network.env(5))
      assert.equal(child.code, 4, describeResult(child))
      assert.doesNotMatch(child.stderr, /\n\s+at /)
    })
  },
)
