import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config.js'
import { configProblems } from '../support/configProblems.js'

describe('quotas and relay limits in the node config', () => {
  it('sets no client quota by default, and leaves the relay limits to the network defaults', () => {
    const config = parseConfig({})
    assert.deepEqual(config.quotas, { burstSeconds: 1, closeAfterRefusals: 100, maxClients: 10_000 })
    assert.equal(config.network.relayLimits, undefined)
  })

  it('takes quotas and relay limits, or relay limits off', () => {
    const config = parseConfig({
      quotas: { messagesPerSecond: 50, bytesPerSecond: 65_536, maxConnections: 4 },
      network: { relayLimits: { publisherMessagesPerSecond: 200, streamPartBytesPerSecond: 1_048_576 } },
    })
    assert.equal(config.quotas.messagesPerSecond, 50)
    assert.equal(config.quotas.maxConnections, 4)
    assert.deepEqual(config.network.relayLimits, {
      publisherMessagesPerSecond: 200,
      streamPartBytesPerSecond: 1_048_576,
    })
    assert.equal(parseConfig({ network: { relayLimits: false } }).network.relayLimits, false)
  })

  it('refuses garbage, naming each field', () => {
    assert.deepEqual(
      configProblems({
        quotas: { messagesPerSecond: 0, bytesPerSecond: 'lots', maxConnections: 1.5, perKey: {} },
      }),
      [
        'quotas.messagesPerSecond: Too small: expected number to be >0',
        'quotas.bytesPerSecond: Invalid input: expected number, received string',
        'quotas.maxConnections: Invalid input: expected int, received number',
        'quotas: Unrecognized key: "perKey"',
      ],
    )
    assert.deepEqual(configProblems({ network: { relayLimits: { publisherMessagesPerSecond: -5 } } }), [
      'network.relayLimits.publisherMessagesPerSecond: Too small: expected number to be >0',
    ])
    assert.equal(configProblems({ network: { relayLimits: true } }).length, 1)
  })
})
