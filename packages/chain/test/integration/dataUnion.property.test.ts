/**
 * Model-based property test of DataUnion.sol on the embedded chain: fast-check
 * draws sequences of joins, parts, re-joins, weight changes, revenue (plain
 * transfers, refreshes, transferAndCall), admin fee changes and withdrawals
 * (direct, all, signed; of random amounts, some above what is earned) and runs
 * each against a fresh union and the bigint model in test/dataUnionModel.ts.
 * After every step: the contract agrees with the model to the wei, every
 * refusal is the one the model predicts, and no token is created or lost.
 *
 * RUNNEL_PROPERTY_SEED replays a run (a failure prints its seed and path);
 * RUNNEL_PROPERTY_RUNS sets the number of sequences (default 25).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { parseUnits, type Address } from 'viem'
import { runnelTokenAbi, toChainError, type ChainErrorCode, type RunnelMarket } from '../../src/index.js'
import { DataUnionModel, ModelRefusal, PRECISION } from '../dataUnionModel.js'
import { assertChainError, startTestChain, type TestChain } from '../fixtures.js'

const SEED = process.env.RUNNEL_PROPERTY_SEED === undefined ? undefined : Number(process.env.RUNNEL_PROPERTY_SEED)
const RUNS = Number(process.env.RUNNEL_PROPERTY_RUNS ?? 25)
const MIN_STEPS = 20
const MAX_STEPS = 30
// Dev accounts: 0 receives withdrawals to another address, 1 administers, 2 is the join agent and relays signed
// withdrawals, 3–7 may be members, 8 pays revenue.
const RECIPIENT = 0
const ADMIN = 1
const AGENT = 2
const CANDIDATES = [3, 4, 5, 6, 7] as const
const PAYER = 8
const ACCOUNTS = 9

const REFUSAL_CODES: Record<string, ChainErrorCode> = {
  InvalidWeight: 'INVALID_ARGUMENT',
  InvalidFee: 'INVALID_ARGUMENT',
  InvalidAmount: 'INVALID_ARGUMENT',
  AlreadyMember: 'ALREADY_MEMBER',
  NotMember: 'NOT_MEMBER',
  NotActiveMember: 'NOT_MEMBER',
  InsufficientEarnings: 'INSUFFICIENT_EARNINGS',
}

interface Model {
  du: DataUnionModel
  /** Tokens sent by plain transfer and not yet accounted: the next refreshing action accounts them as one revenue. */
  pending: bigint
}

interface Real {
  readonly union: Address
}

describe(`Data Union property test (${RUNS} sequences of ${MIN_STEPS}–${MAX_STEPS} steps)`, () => {
  let dev: TestChain
  let admin: RunnelMarket
  let agent: RunnelMarket
  let token: Address
  const markets = new Map<number, RunnelMarket>()
  const counts: Record<string, number> = {}
  let steps = 0
  let maxDust = 0n

  before(async () => {
    dev = await startTestChain({ accounts: ACCOUNTS })
    admin = dev.marketFor(ADMIN)
    agent = dev.marketFor(AGENT)
    token = dev.deployment.incentives.token
    for (const i of CANDIDATES) markets.set(i, dev.marketFor(i))
    await send(0, 'mint', [address(PAYER), parseUnits('100000000', 18)])
  })
  after(() => dev?.stop())

  function address(index: number): Address {
    return dev.walletFor(index).account.address
  }

  /** A token call by dev account `from`: `to` and `value` for mint, transfer and transferAndCall alike. */
  async function send(
    from: number,
    functionName: 'mint' | 'transfer' | 'transferAndCall',
    args: readonly [Address, bigint],
  ): Promise<void> {
    try {
      const hash = await dev.walletFor(from).writeContract({ address: token, abi: runnelTokenAbi, functionName, args })
      await dev.publicClient.waitForTransactionReceipt({ hash })
    } catch (err) {
      throw toChainError(err)
    }
  }

  function count(name: string): void {
    counts[name] = (counts[name] ?? 0) + 1
  }

  /**
   * Runs one action on a copy of the model (after accounting `pending` first when the contract refreshes first) and on
   * the chain: either both refuse with the same error, or both succeed and the copy becomes the model.
   */
  async function apply(
    m: Model,
    name: string,
    refreshes: boolean,
    onModel: (du: DataUnionModel) => void,
    onChain: () => Promise<unknown>,
  ): Promise<boolean> {
    const next = m.du.clone()
    if (refreshes) next.revenue(m.pending)
    try {
      onModel(next)
    } catch (err) {
      if (!(err instanceof ModelRefusal)) throw err
      await assertChainError(onChain(), REFUSAL_CODES[err.errorName]!)
      count(`${name}:${err.errorName}`)
      return false
    }
    await onChain()
    m.du = next
    if (refreshes) m.pending = 0n
    count(name)
    return true
  }

  // ---- invariants ----

  async function checkInvariants(m: Model, r: Real): Promise<void> {
    steps += 1
    const du = m.du
    const members = du.addresses()
    const [balance, stats, infos] = await Promise.all([
      admin.tokenBalance(r.union),
      admin.getDataUnion(r.union),
      Promise.all(members.map((member) => admin.memberInfo(r.union, member))),
    ])
    for (const info of infos) {
      const member = info.address
      assert.deepEqual(
        [info.status, info.weight, info.earned, info.withdrawn, info.withdrawable],
        [du.status(member), du.weight(member), du.earned(member), du.withdrawn(member), du.withdrawable(member)],
        `member ${member}: contract vs model`,
      )
      assert.ok(info.withdrawn <= info.earned, `${member} withdrew more than it earned`)
    }
    assert.deepEqual(
      {
        totalRevenue: stats.totalRevenue,
        totalWithdrawn: stats.totalWithdrawn,
        totalWeight: stats.totalWeight,
        activeMemberCount: stats.activeMemberCount,
        memberCount: stats.memberCount,
        adminEarned: stats.adminEarned,
        adminWithdrawn: stats.adminWithdrawn,
        adminFeeBps: stats.adminFeeBps,
      },
      {
        totalRevenue: du.totalRevenue,
        totalWithdrawn: du.totalWithdrawn,
        totalWeight: du.totalWeight,
        activeMemberCount: du.activeMemberCount,
        memberCount: du.memberCount,
        adminEarned: du.adminEarned,
        adminWithdrawn: du.adminWithdrawn,
        adminFeeBps: Number(du.feeBps),
      },
      'totals: contract vs model',
    )
    // Conservation: the balance is every claim, the dust, and what arrived unaccounted.
    const memberClaims = infos.reduce((sum, info) => sum + info.earned - info.withdrawn, 0n)
    const claims = memberClaims + stats.adminEarned - stats.adminWithdrawn
    const dust = balance - m.pending - claims
    assert.ok(balance >= claims, `balance ${balance} below the claims ${claims}`)
    assert.ok(
      dust >= 0n && dust <= BigInt(stats.memberCount + 1),
      `dust ${dust} wei outside 0..${stats.memberCount + 1}`,
    )
    assert.equal(dust * PRECISION, du.dustScaled(), 'the dust is the fractions of a wei and the carry')
    assert.equal(balance - m.pending, du.accounted(), 'accounted tokens')
    assert.equal(
      stats.totalRevenue,
      stats.totalWithdrawn + stats.adminWithdrawn + claims + dust,
      'revenue is conserved',
    )
    if (dust > maxDust) maxDust = dust
  }

  // ---- commands ----

  type Cmd = fc.AsyncCommand<Model, Real>

  function command(label: string, run: (m: Model, r: Real) => Promise<unknown>): Cmd {
    return {
      check: () => true,
      run: async (m, r) => {
        await run(m, r)
        await checkInvariants(m, r)
      },
      toString: () => label,
    }
  }

  const candidate = fc.constantFrom(...CANDIDATES)
  /**
   * Whom a part, weight change or withdrawal is for: mostly someone who has joined (an active member for part and
   * weight changes), so that most actions go through, and now and then any candidate (refused unless a member).
   */
  const target = fc.record({
    n: fc.nat(1000),
    anyone: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  })
  const resolve = (m: Model, t: { n: number; anyone: boolean }, activeOnly: boolean): number => {
    const joined = CANDIDATES.filter((i) => {
      const status = m.du.status(address(i))
      return activeOnly ? status === 'active' : status !== 'none'
    })
    const pool = t.anyone || joined.length === 0 ? CANDIDATES : joined
    return pool[t.n % pool.length]!
  }
  // Mostly small weights, some large, and a zero now and then (refused).
  const weight = fc.oneof(
    { weight: 6, arbitrary: fc.bigInt(1n, 10n) },
    { weight: 3, arbitrary: fc.bigInt(1n, 10n ** 9n) },
    { weight: 1, arbitrary: fc.constant(0n) },
  )
  // Revenue from a wei to thousands of tokens, at odd wei so that divisions leave remainders.
  const amount = fc.oneof(
    { weight: 2, arbitrary: fc.bigInt(1n, 1000n) },
    { weight: 5, arbitrary: fc.bigInt(1n, 10n ** 21n) },
    { weight: 1, arbitrary: fc.bigInt(10n ** 21n, 10n ** 22n) },
  )
  /** How much of what it may withdraw a member asks for: a share in ‰, everything, just over, or zero. */
  const ask = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 999 }).map((permille) => ({ permille })) },
    { weight: 2, arbitrary: fc.constant({ permille: 1000 }) },
    { weight: 2, arbitrary: fc.bigInt(1n, 10n ** 18n).map((over) => ({ over })) },
    { weight: 1, arbitrary: fc.constant({ permille: 0 }) },
  )
  const amountOf = (withdrawable: bigint, a: { permille: number } | { over: bigint }): bigint =>
    'over' in a ? withdrawable + a.over : (withdrawable * BigInt(a.permille)) / 1000n

  const join = fc.tuple(candidate, weight).map(([i, w]) =>
    command(`join(${i}, ${w})`, (m, r) =>
      apply(
        m,
        m.du.status(address(i)) === 'parted' ? 'rejoin' : 'join',
        true,
        (du) => du.join(address(i), w),
        () => agent.addMembers(r.union, [{ address: address(i), weight: w }]),
      ),
    ),
  )
  const part = fc.tuple(target, fc.boolean()).map(([t, self]) =>
    command(`part(${JSON.stringify(t)}, ${self ? 'itself' : 'by the agent'})`, (m, r) => {
      const i = resolve(m, t, true)
      return apply(
        m,
        'part',
        true,
        (du) => du.part(address(i)),
        () => (self ? markets.get(i)!.partMember(r.union) : agent.partMember(r.union, address(i))),
      )
    }),
  )
  const setWeight = fc.tuple(target, weight).map(([t, w]) =>
    command(`setWeight(${JSON.stringify(t)}, ${w})`, (m, r) => {
      const i = resolve(m, t, true)
      return apply(
        m,
        'setWeight',
        true,
        (du) => du.setWeight(address(i), w),
        () => agent.setMemberWeight(r.union, address(i), w),
      )
    }),
  )
  const setFee = fc
    .oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 10_000 }) }, { weight: 1, arbitrary: fc.constant(10_001) })
    .map((bps) =>
      command(`setFee(${bps})`, (m, r) =>
        apply(
          m,
          'setFee',
          true,
          (du) => du.setFee(BigInt(bps)),
          () => admin.setAdminFee(r.union, bps),
        ),
      ),
    )
  const transfer = amount.map((value) =>
    command(`transfer(${value})`, async (m, r) => {
      await send(PAYER, 'transfer', [r.union, value])
      m.pending += value
      count('transfer')
    }),
  )
  const refresh = fc.constant(
    command('refreshRevenue()', async (m, r) => {
      const expected = m.pending
      assert.equal(await admin.refreshRevenue(r.union), expected)
      m.du.revenue(expected)
      m.pending = 0n
      count('refresh')
    }),
  )
  const transferAndCall = amount.map((value) =>
    command(`transferAndCall(${value})`, async (m, r) => {
      await send(PAYER, 'transferAndCall', [r.union, value])
      // The union refreshes once, so a plain transfer before it is part of the same revenue.
      m.du.revenue(m.pending + value)
      m.pending = 0n
      count('transferAndCall')
    }),
  )
  const withdraw = fc
    .tuple(target, ask, fc.constantFrom('direct', 'all', 'signed'), fc.boolean())
    .map(([t, a, how, toSelf]) =>
      command(
        `withdraw(${JSON.stringify(t)}, ${JSON.stringify(a, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}, ${how}, ${toSelf ? 'self' : 'other'})`,
        async (m, r) => {
          const i = resolve(m, t, false)
          const member = markets.get(i)!
          const to = toSelf ? address(i) : address(RECIPIENT)
          const before = await member.tokenBalance(to)
          let sent = 0n
          let done: boolean
          if (how === 'all') {
            // withdrawAll refreshes first and sends everything withdrawable then.
            done = await apply(
              m,
              'withdrawAll',
              true,
              (du) => {
                sent = du.withdrawable(address(i))
                du.withdraw(address(i), sent)
              },
              () => member.withdraw(r.union, { to }),
            )
          } else {
            const value = amountOf(m.du.withdrawable(address(i)), a)
            done = await apply(
              m,
              how === 'direct' ? 'withdraw' : 'withdrawSigned',
              false,
              (du) => {
                du.withdraw(address(i), value)
                sent = value
              },
              async () =>
                how === 'direct'
                  ? member.withdraw(r.union, { to, amount: value })
                  : agent.withdrawSigned(await member.signWithdrawal(r.union, { to, amount: value })),
            )
          }
          assert.equal(
            await member.tokenBalance(to),
            before + (done ? sent : 0n),
            'the recipient got what was withdrawn',
          )
        },
      ),
    )
  const withdrawAdmin = fc.constant(
    command('withdrawAdminFees()', (m, r) =>
      apply(
        m,
        'withdrawAdmin',
        true,
        (du) => du.withdrawAdmin(),
        () => admin.withdrawAdminFees(r.union, address(RECIPIENT)),
      ),
    ),
  )

  // A plain array rather than fc.commands: its lengths spread evenly from 0, and short sequences reach few states.
  const commands = fc.array(
    fc.oneof(
      { weight: 3, arbitrary: join },
      { weight: 1, arbitrary: part },
      { weight: 1, arbitrary: setWeight },
      { weight: 1, arbitrary: setFee },
      { weight: 1, arbitrary: transfer },
      { weight: 1, arbitrary: refresh },
      { weight: 2, arbitrary: transferAndCall },
      { weight: 4, arbitrary: withdraw },
      { weight: 1, arbitrary: withdrawAdmin },
    ),
    { minLength: MIN_STEPS, maxLength: MAX_STEPS },
  )

  it('agrees with the model to the wei and conserves tokens after every step', async () => {
    const started = performance.now()
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 10_000 }), commands, async (feeBps, cmds) => {
        const union = await admin.createDataUnion({ adminFeeBps: feeBps, joinAgents: [address(AGENT)] })
        await fc.asyncModelRun(
          () => ({ model: { du: new DataUnionModel(BigInt(feeBps)), pending: 0n }, real: { union } }),
          cmds,
        )
      }),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    )
    console.log(
      `${RUNS} sequences, ${steps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `at most ${maxDust} wei of dust; ${JSON.stringify(counts)}`,
    )
    // A run that exercised nothing proves nothing.
    for (const name of [
      'join',
      'rejoin',
      'part',
      'setWeight',
      'setFee',
      'transferAndCall',
      'withdraw',
      'withdrawSigned',
    ]) {
      assert.ok((counts[name] ?? 0) > 0, `no successful ${name} in the run`)
    }
    assert.ok(
      Object.keys(counts).some((name) => name.endsWith(':InsufficientEarnings')),
      'no withdrawal above the earnings was tried',
    )
  })
})
