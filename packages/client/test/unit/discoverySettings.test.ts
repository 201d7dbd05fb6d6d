import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ClientError, LOCAL_DEFAULTS, type RunnelClientOptions } from '../../src/index.js'
import { resolveDiscovery } from '../../src/setup/discovery.js'

function refusal(network: unknown): string {
  try {
    resolveDiscovery(network as RunnelClientOptions['network'])
  } catch (err) {
    assert.ok(err instanceof ClientError, `expected a ClientError, got ${String(err)}`)
    assert.equal(err.code, 'INVALID_ARGUMENT')
    return err.shortMessage
  }
  assert.fail('the settings were accepted')
}

describe('the client network discovery settings', () => {
  it('runs in tracker mode on the local tracker by default', () => {
    assert.deepEqual(resolveDiscovery(undefined), { discovery: 'tracker', trackers: LOCAL_DEFAULTS.trackers })
    assert.deepEqual(resolveDiscovery({ trackers: ['ws://t:1'] }), { discovery: 'tracker', trackers: ['ws://t:1'] })
  })

  it('runs in dht mode when told, on the local entry point unless it lists its own', () => {
    assert.deepEqual(resolveDiscovery({ discovery: 'dht' }), {
      discovery: 'dht',
      entryPoints: LOCAL_DEFAULTS.entryPoints,
    })
    assert.deepEqual(resolveDiscovery({ entryPoints: ['ws://e:1'] }), { discovery: 'dht', entryPoints: ['ws://e:1'] })
    // Both lists and no mode: tracker mode.
    assert.equal(resolveDiscovery({ trackers: ['ws://t:1'], entryPoints: ['ws://e:1'] }).discovery, 'tracker')
  })

  it('refuses an unknown mode and malformed lists, naming the setting', () => {
    assert.equal(refusal({ discovery: 'kademlia' }), `network.discovery must be 'tracker' or 'dht', got "kademlia"`)
    assert.equal(refusal({ discovery: 'dht', entryPoints: [] }), 'network.entryPoints must list at least one address')
    assert.match(refusal({ entryPoints: 'ws://e:1' }), /^network\.entryPoints must be an array/)
    assert.match(refusal({ trackers: ['ws://t:1', 7] }), /^network\.trackers\[1\] must be an address .*, got 7$/)
    // The unused list is checked too: a typo shows before the mode is switched.
    assert.match(refusal({ discovery: 'tracker', entryPoints: [''] }), /^network\.entryPoints\[0\]/)
  })
})
