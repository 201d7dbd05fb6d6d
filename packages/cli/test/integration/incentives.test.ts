import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { addressFromPrivateKey } from '@runnel/protocol'
import { parseUnits } from 'viem'
import { runCli, type CliContext } from '../../src/index.js'
import { describeResult, runCliProcess, startLocalNetwork, type LocalNetwork } from './helpers.js'
import { testDiscoveryMode } from '../../../client/test/support/discovery.js'

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

type Json = Record<string, unknown>

/**
 * `runnel token|sponsorship|operator` against a dev chain listening on 127.0.0.1: the whole path from sponsoring a
 * stream to a kick, and each refusal as the exit code and message a user sees. Commands run in this process
 * (`runCli`, the code `bin.ts` runs) to keep the file fast; one runs as a child process to show the same exit there.
 *
 * Accounts: 1 sponsors; 2–6 own operators A–E, all staked (A flags E, B–D review); 7 owns an unstaked operator;
 * 8 delegates.
 */
// Chain commands only: no node joins the network, so the dht-mode run (npm run test:dht) would repeat them as they are.
describe(
  'runnel token, sponsorship and operator, against a dev chain',
  { skip: testDiscoveryMode() === 'dht' ? 'chain only: the tracker-mode run covers it' : false },
  () => {
    let network: LocalNetwork
    let streamId: string
    const operators: Record<number, string> = {}

    async function run(account: number | undefined, ...args: string[]): Promise<Run> {
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      const chunks = { stdout: '', stderr: '' }
      stdout.on('data', (chunk: Buffer) => (chunks.stdout += chunk.toString()))
      stderr.on('data', (chunk: Buffer) => (chunks.stderr += chunk.toString()))
      const context: CliContext = {
        stdout,
        stderr,
        stdin: new PassThrough(),
        env: network.env(account),
        homedir: network.dir,
      }
      const code = await runCli(['node', 'runnel', ...args], context)
      return { code, ...chunks }
    }

    /** Runs a command that must succeed with `--json`, and parses its output. */
    async function json<T = Json>(account: number | undefined, ...args: string[]): Promise<T> {
      const result = await run(account, ...args, '--json')
      assert.equal(result.code, 0, `runnel ${args.join(' ')}: ${describeResult({ ...result, signal: null })}`)
      return JSON.parse(result.stdout) as T
    }

    /** Runs a command that must fail with `exitCode`, printing `message` on stderr. */
    async function refused(exitCode: number, message: RegExp, account: number | undefined, ...args: string[]) {
      const result = await run(account, ...args)
      assert.equal(result.code, exitCode, `runnel ${args.join(' ')}: ${describeResult({ ...result, signal: null })}`)
      assert.match(result.stderr, message)
      assert.equal(result.stdout, '')
    }

    const increaseTime = async (seconds: number): Promise<void> => {
      await network.dev.chain.provider.request({ method: 'evm_increaseTime', params: [seconds] })
      await network.dev.chain.provider.request({ method: 'evm_mine', params: [] })
    }

    before(async () => {
      network = await startLocalNetwork()
      streamId = (await network.dev.registryFor(1).createStream('/incentives/cli')).id
    })
    after(() => network.stop())

    it('sponsors a stream, runs operators that earn, flags one and votes it out', async () => {
      const sponsorAddress = addressFromPrivateKey(network.dev.chain.accountKeys[1]!)
      assert.deepEqual(await json(1, 'token', 'balance'), { address: sponsorAddress, balance: '1000000' })

      const created = await json(1, 'sponsorship', 'create', '/incentives/cli', '--rate', '1', '--fund', '10000')
      assert.equal(created.id, 1)
      assert.equal(created.streamId, streamId)
      assert.equal(created.fundsLeft, '10000')
      assert.equal(created.paying, false)
      const funded = await json(1, 'sponsorship', 'fund', '1', '500.5')
      assert.equal(funded.fundsLeft, '10500.5')
      assert.equal((await json(1, 'token', 'balance')).balance, '989499.5')

      // Five operators, each self-delegating and staking.
      for (const account of [2, 3, 4, 5, 6]) {
        const operator = await json(account, 'operator', 'create', '--cut', '12.5', '--metadata', `operator ${account}`)
        assert.equal(operator.cutPercent, 12.5)
        operators[account] = operator.address as string
        await json(account, 'operator', 'delegate', operators[account], '3000')
        const stake = await json(account, 'operator', 'stake', '1', '2000')
        assert.equal(stake.stake, '2000')
      }
      const delegated = await json(8, 'operator', 'delegate', operators[2]!, '100')
      // Worth what was put in, less the wei the share price's rounding keeps in the vault.
      const worth = parseUnits(delegated.value as string, 18)
      assert.ok(
        worth <= parseUnits('100', 18) && worth >= parseUnits('100', 18) - 10n,
        `worth ${String(delegated.value)}`,
      )

      await increaseTime(100)
      const shown = await json<Json & { stakes: Json[]; yourDelegation: Json }>(2, 'operator', 'show')
      assert.equal(shown.address, operators[2])
      assert.equal(shown.owner, addressFromPrivateKey(network.dev.chain.accountKeys[2]!))
      // Tokens and stake, plus (counted in the share value) earnings not collected yet.
      assert.ok(parseUnits(shown.totalAssets as string, 18) > parseUnits('3100', 18), String(shown.totalAssets))
      assert.equal(shown.stakes.length, 1)
      assert.equal(shown.stakes[0]!.stake, '2000')
      assert.ok(Number(shown.stakes[0]!.earnings) >= 20, `earned ${String(shown.stakes[0]!.earnings)} RNL in 100 s`)
      const text = await run(8, 'operator', 'show', operators[2]!)
      assert.equal(text.code, 0, describeResult({ ...text, signal: null }))
      assert.match(text.stdout, /^operator 0x[0-9a-f]{40}\n {2}owner +0x/)
      assert.match(text.stdout, /cut +12\.5%/)
      assert.match(text.stdout, /yours +\d+(\.\d+)? shares, worth \d+(\.\d+)? RNL/)
      assert.match(text.stdout, /sponsorship 1 {2}stake 2000 RNL {2}earned \d+(\.\d+)? RNL/)

      const sponsorship = await run(undefined, 'sponsorship', 'show', '1')
      assert.equal(sponsorship.code, 0, describeResult({ ...sponsorship, signal: null }))
      assert.match(sponsorship.stdout, /paying +yes, funds last \d+h \d+m( \d+s)? at this rate/)
      assert.match(sponsorship.stdout, /operators +5 \(min 1, max 100\)/)
      assert.equal(sponsorship.stdout.match(/stake 2000 RNL {2}earned/g)?.length, 5)
      const listed = await json<Json[]>(undefined, 'sponsorship', 'list', '--stream', streamId)
      assert.deepEqual(
        listed.map((each) => [each.id, each.operatorCount]),
        [[1, 5]],
      )
      assert.equal((await json<Json[]>(undefined, 'operator', 'list')).length, 5)

      const withdrawn = await json(2, 'operator', 'withdraw-earnings')
      assert.ok(Number(withdrawn.ownerCut) > 0 && Number(withdrawn.toDelegators) > 0, JSON.stringify(withdrawn))

      const flag = await json<Json & { reviewers: string[] }>(2, 'operator', 'flag', '1', operators[6]!)
      assert.equal(flag.status, 'open')
      assert.deepEqual([...flag.reviewers].sort(), [operators[3], operators[4], operators[5]].sort())
      const flagId = String(flag.id)
      await refused(
        5,
        /^runnel: NOT_REVIEWER: 0x[0-9a-f]{40} is not a reviewer of flag 1\n$/,
        6,
        'operator',
        'vote',
        flagId,
        'kick',
      )
      assert.equal((await json(3, 'operator', 'vote', flagId, 'kick')).status, 'open')
      await refused(
        3,
        /^runnel: ALREADY_VOTED: 0x[0-9a-f]{40} has voted on flag 1 already\n$/,
        3,
        'operator',
        'vote',
        flagId,
        'keep',
      )
      assert.equal((await json(4, 'operator', 'vote', flagId, 'kick')).status, 'kicked')
      const after = await run(undefined, 'operator', 'flag-show', flagId)
      assert.match(after.stdout, /votes +2 kick, 0 keep\n {2}status +kicked/)
      const kicked = await json<Json & { stakes: Json[] }>(undefined, 'operator', 'show', operators[6]!)
      assert.deepEqual(kicked.stakes, [], 'the kicked operator is off the sponsorship')
      assert.ok(Number(kicked.totalAssets) < 3000, `slashed: ${String(kicked.totalAssets)} RNL left`)

      // A flag nobody votes on: concluded, once its voting period is over, by anyone.
      const second = String((await json(2, 'operator', 'flag', '1', operators[3]!)).id)
      await refused(3, /^runnel: VOTING_NOT_ENDED: voting on flag 2 runs until /, 8, 'operator', 'conclude', second)
      await increaseTime(3601)
      assert.equal((await json(8, 'operator', 'conclude', second)).status, 'inconclusive')
    })

    it('refuses unauthorized calls, small stakes, bad flags and garbage with typed errors and exit codes', async () => {
      const someone = addressFromPrivateKey(network.dev.chain.accountKeys[9]!)
      const unstaked = (await json(7, 'operator', 'create')).address as string
      await json(7, 'operator', 'delegate', unstaked, '1500')

      // Unauthorized: a key that is neither the operator's owner nor one of its nodes.
      await refused(
        5,
        /^runnel: PERMISSION_DENIED: 0x[0-9a-f]{40} is neither this operator's owner nor one of its nodes\n$/,
        8,
        'operator',
        'withdraw-earnings',
        '--operator',
        operators[2]!,
      )
      await refused(
        5,
        /^runnel: PERMISSION_DENIED: /,
        8,
        'operator',
        'flag',
        '1',
        operators[4]!,
        '--operator',
        operators[2]!,
      )
      await refused(
        3,
        /^runnel: 0x[0-9a-f]{40} owns no operator: run `runnel operator create` first/,
        8,
        'operator',
        'stake',
        '1',
        '1000',
      )
      await refused(3, /^runnel: OPERATOR_EXISTS: /, 7, 'operator', 'create')

      await refused(
        3,
        /^runnel: STAKE_BELOW_MINIMUM: a stake of 10 RNL is below the minimum of 1000 RNL\n$/,
        7,
        'operator',
        'stake',
        '1',
        '10',
      )
      await refused(3, /^runnel: INSUFFICIENT_FUNDS: /, 7, 'operator', 'stake', '1', '5000')
      await refused(
        3,
        /^runnel: NOT_STAKED: operator 0x[0-9a-f]{40} is not staked on sponsorship 1\n$/,
        2,
        'operator',
        'flag',
        '1',
        unstaked,
      )
      await refused(3, /^runnel: NOT_STAKED: /, 7, 'operator', 'flag', '1', operators[2]!)
      await refused(4, /^runnel: SPONSORSHIP_NOT_FOUND: no sponsorship 99\n$/, undefined, 'sponsorship', 'show', '99')
      await refused(4, /^runnel: FLAG_NOT_FOUND: no flag 99\n$/, undefined, 'operator', 'flag-show', '99')
      await refused(4, /^runnel: OPERATOR_NOT_FOUND: /, undefined, 'operator', 'show', someone)
      await refused(4, /^runnel: STREAM_NOT_FOUND: /, 1, 'sponsorship', 'create', '/incentives/none', '--rate', '1')

      for (const garbage of ['abc', '1e999', '1.0000000000000000001', '0', '0x10']) {
        await refused(
          3,
          /^runnel: <amount>: ".*" (is not an amount of RNL|has 19 decimals|is zero)/,
          1,
          'token',
          'transfer',
          someone,
          garbage,
        )
      }
      await refused(
        3,
        /^runnel: --rate: "-1" is not an amount of RNL/,
        1,
        'sponsorship',
        'create',
        streamId,
        '--rate',
        '-1',
      )
      await refused(
        3,
        /^runnel: <amount>: "-1" is not an amount of RNL/,
        1,
        'operator',
        'delegate',
        operators[2]!,
        '-1',
      )
      await refused(2, /--cut is a percentage from 0 to 100/, 9, 'operator', 'create', '--cut', '101')
      await refused(2, /<sponsorshipId> must be a whole number ≥ 1/, 2, 'operator', 'stake', 'one', '1000')
      await refused(
        2,
        /value 'maybe' is invalid for argument 'verdict'\. Allowed choices are kick, keep/,
        3,
        'operator',
        'vote',
        '1',
        'maybe',
      )
      assert.equal((await json(9, 'token', 'balance')).balance, '1000000', 'nothing moved')
    })

    it('exits with the error’s code from the built command too', async () => {
      const result = await runCliProcess(['operator', 'stake', '1', '10'], network.env(7))
      assert.equal(result.code, 3, describeResult(result))
      assert.match(result.stderr, /^runnel: STAKE_BELOW_MINIMUM: a stake of 10 RNL is below the minimum of 1000 RNL\n$/)
    })
  },
)
