import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { StakeInfo } from '@runnel/chain'
import { SeededRandom } from '@runnel/network'
import type { Address } from 'viem'
import { parseConfig } from '../../src/config.js'
import {
  autoFlagDecision,
  FlagBudget,
  jitteredInterval,
  pickAutoFlagTarget,
} from '../../src/plugins/operator/AutoFlagger.js'
import { configProblems } from '../support/configProblems.js'

const operator = (i: number): Address => `0x${i.toString(16).padStart(40, '0')}`
const stake = (i: number, over: Partial<StakeInfo> = {}): StakeInfo => ({
  sponsorshipId: 1,
  operator: operator(i),
  amount: 5_000n,
  locked: 0n,
  earnings: 0n,
  joinedAt: 0,
  underReview: false,
  kicked: false,
  ...over,
})

describe('auto-flagging: the two-in-a-row rule', () => {
  it('flags only after two kick verdicts in a row; one keep ends the round', () => {
    assert.equal(autoFlagDecision([]), 'inspect-again')
    assert.equal(autoFlagDecision(['kick']), 'inspect-again')
    assert.equal(autoFlagDecision(['kick', 'kick']), 'flag')
    assert.equal(autoFlagDecision(['keep']), 'no-flag')
    assert.equal(autoFlagDecision(['kick', 'keep']), 'no-flag')
    assert.equal(autoFlagDecision(['keep', 'kick']), 'no-flag')
    assert.equal(autoFlagDecision(['kick', 'kick'], 3), 'inspect-again')
  })
})

describe('auto-flagging: the target', () => {
  const self = operator(1)
  const never = (): boolean => false

  it('skips this operator, the kicked, the flagged (under review), the unstaked and the recently inspected', () => {
    const stakes = [
      stake(1),
      stake(2, { kicked: true }),
      stake(3, { underReview: true }),
      stake(4, { amount: 0n }),
      stake(5),
      stake(6),
    ]
    const recent = (s: StakeInfo): boolean => s.operator === operator(6)
    const random = new SeededRandom(7)
    for (let i = 0; i < 50; i++) {
      assert.equal(pickAutoFlagTarget(stakes, self, recent, () => random.nextFloat())?.operator, operator(5))
    }
    // The own operator matches whatever the case of its address.
    assert.equal(pickAutoFlagTarget([stake(1)], self.toUpperCase() as Address, never, Math.random), undefined)
    assert.equal(pickAutoFlagTarget(stakes.slice(0, 4), self, never, Math.random), undefined)
  })

  it('picks uniformly among the eligible', () => {
    const stakes = [stake(1), stake(2), stake(3), stake(4)]
    const random = new SeededRandom(42)
    const counts = new Map<string, number>()
    for (let i = 0; i < 3_000; i++) {
      const picked = pickAutoFlagTarget(stakes, self, never, () => random.nextFloat())!
      counts.set(picked.operator, (counts.get(picked.operator) ?? 0) + 1)
    }
    assert.deepEqual([...counts.keys()].sort(), [operator(2), operator(3), operator(4)])
    for (const count of counts.values()) assert.ok(count > 850 && count < 1_150, `about a third each (${count})`)
  })
})

describe('auto-flagging: pacing', () => {
  it('jitters the interval by ±25%', () => {
    assert.equal(
      jitteredInterval(1_000, () => 0),
      750,
    )
    assert.equal(
      jitteredInterval(1_000, () => 0.5),
      1_000,
    )
    assert.equal(
      jitteredInterval(1_000, () => 0.999_999),
      1_250,
    )
  })

  it('allows at most maxFlagsPerHour flags in any hour', () => {
    const budget = new FlagBudget(2)
    assert.ok(budget.allows(0))
    budget.record(0)
    budget.record(1_000)
    assert.equal(budget.allows(2_000), false)
    assert.equal(budget.allows(3_599_999), false)
    assert.equal(budget.allows(3_600_000), true, 'the first flag left the window')
    budget.record(3_600_000)
    assert.equal(budget.allows(3_600_500), false)
    assert.equal(budget.allows(3_601_000), true)
  })
})

describe('auto-flagging: config', () => {
  const base = { privateKey: '11'.repeat(32), plugins: { operator: { operatorAddress: operator(9) } } }

  it('is on by default, one round about every 10 minutes, a confirmation a minute later, two flags an hour', () => {
    assert.deepEqual(parseConfig(base).plugins.operator?.autoFlag, {
      enabled: true,
      intervalMs: 600_000,
      confirmDelayMs: 60_000,
      maxFlagsPerHour: 2,
    })
  })

  it('refuses bad values, naming each key', () => {
    assert.deepEqual(
      configProblems({
        ...base,
        plugins: {
          operator: {
            ...base.plugins.operator,
            autoFlag: { enabled: 'yes', intervalMs: 10, confirmDelayMs: -1, maxFlagsPerHour: 0 },
          },
        },
      }),
      [
        'plugins.operator.autoFlag.enabled: Invalid input: expected boolean, received string',
        'plugins.operator.autoFlag.intervalMs: Too small: expected number to be >=500',
        'plugins.operator.autoFlag.confirmDelayMs: Too small: expected number to be >=0',
        'plugins.operator.autoFlag.maxFlagsPerHour: Too small: expected number to be >=1',
      ],
    )
    assert.deepEqual(
      configProblems({ ...base, plugins: { operator: { ...base.plugins.operator, autoFlag: { often: true } } } }),
      ['plugins.operator.autoFlag: Unrecognized key: "often"'],
    )
  })
})
