import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseBuyBody } from '../../src/devBuyers.js'

const TOKEN = '0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0'

describe('parseBuyBody', () => {
  it('accepts an account label, a whole positive number of seconds and an optional token address', () => {
    assert.deepEqual(parseBuyBody({ account: 'dev-7', seconds: 3600 }), { account: 'dev-7', seconds: 3600 })
    assert.deepEqual(parseBuyBody({ account: 'dev-7', seconds: 60, token: TOKEN }), {
      account: 'dev-7',
      seconds: 60,
      token: TOKEN,
    })
  })

  it('names the field that is wrong in garbage', () => {
    const cases: [unknown, RegExp][] = [
      [null, /^body: /],
      [[], /^body: /],
      ['buy', /^body: /],
      [{}, /account/],
      [{ account: '', seconds: 60 }, /^account: /],
      [{ account: 'dev-7' }, /^seconds: /],
      [{ account: 'dev-7', seconds: 0 }, /^seconds: /],
      [{ account: 'dev-7', seconds: -1 }, /^seconds: /],
      [{ account: 'dev-7', seconds: 1.5 }, /^seconds: /],
      [{ account: 'dev-7', seconds: '60' }, /^seconds: /],
      [{ account: 'dev-7', seconds: Number.MAX_SAFE_INTEGER }, /^seconds: /],
      [{ account: 'dev-7', seconds: 60, token: 'RNL' }, /^token: a token address is 0x \+ 40 hex digits/],
      [{ account: 'dev-7', seconds: 60, extra: true }, /extra/],
      [{ account: 'x'.repeat(101), seconds: 60 }, /^account: /],
    ]
    for (const [body, message] of cases) {
      const parsed = parseBuyBody(body)
      assert.equal(typeof parsed, 'string', JSON.stringify(body))
      assert.match(parsed as string, message, JSON.stringify(body))
    }
  })
})
