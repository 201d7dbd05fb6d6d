import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config.js'
import { configProblems } from '../support/configProblems.js'

describe('discovery in the node config', () => {
  it('runs in tracker mode with the local tracker by default, the local entry point ready for dht mode', () => {
    const { network } = parseConfig({})
    assert.equal(network.discovery, 'tracker')
    assert.deepEqual(network.trackers, ['ws://127.0.0.1:30300'])
    assert.deepEqual(network.entryPoints, ['ws://127.0.0.1:30301'])
  })

  it('runs in dht mode when it lists entry points and no trackers, or says so', () => {
    assert.equal(parseConfig({ network: { entryPoints: ['ws://10.0.0.1:30301'] } }).network.discovery, 'dht')
    const said = parseConfig({ network: { discovery: 'dht', dht: { k: 16 } } }).network
    assert.equal(said.discovery, 'dht')
    assert.deepEqual(said.entryPoints, ['ws://127.0.0.1:30301'])
    assert.equal(said.dht.k, 16)
    const guarded = parseConfig({ network: { dht: { lookupPaths: 3, maxEntryPointsPerSubnet: 4 } } }).network.dht
    assert.equal(guarded.lookupPaths, 3)
    assert.equal(guarded.maxEntryPointsPerSubnet, 4)
    assert.ok(configProblems({ network: { dht: { lookupPaths: 0 } } }).length > 0, 'lookupPaths 0 is refused')
    // Both lists and no mode: tracker, as a config written before dht mode existed means.
    const both = parseConfig({ network: { trackers: ['ws://t:1'], entryPoints: ['ws://e:1'] } }).network
    assert.equal(both.discovery, 'tracker')
  })

  it('adds WebRTC only when network.webrtc is set, and checks its ICE servers', () => {
    assert.equal(parseConfig({}).network.webrtc, undefined)
    const { webrtc } = parseConfig({
      network: {
        webrtc: {
          iceServers: [
            { urls: ['stun:stun.example.org:3478'] },
            { urls: 'turn:t.example.org', username: 'u', credential: 'c' },
          ],
        },
      },
    }).network
    assert.equal(webrtc?.iceServers?.length, 2)
    assert.deepEqual(
      configProblems({ network: { webrtc: { iceServers: [{ urls: 'http://stun.example.org' }], timeout: 1 } } }),
      [
        'network.webrtc.iceServers.0.urls: a stun:, stuns:, turn: or turns: URL',
        'network.webrtc: Unrecognized key: "timeout"',
      ],
    )
  })

  it('names each bad discovery setting', () => {
    assert.deepEqual(
      configProblems({
        network: {
          discovery: 'gossip',
          entryPoints: ['http://10.0.0.1:30301'],
          dht: { k: 0, alpha: 'three', bucketSize: 8 },
        },
      }),
      [
        "network.discovery: 'tracker' or 'dht'",
        'network.entryPoints.0: a ws:// or wss:// URL',
        'network.dht.k: Too small: expected number to be >=2',
        'network.dht.alpha: Invalid input: expected number, received string',
        'network.dht: Unrecognized key: "bucketSize"',
      ],
    )
    assert.deepEqual(configProblems({ network: { entryPoints: [] } }), [
      'network.entryPoints: Too small: expected array to have >=1 items',
    ])
  })
})
