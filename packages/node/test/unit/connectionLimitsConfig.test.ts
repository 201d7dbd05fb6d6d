import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config.js'
import { configProblems } from '../support/configProblems.js'

describe('connection limits in the node config', () => {
  it('gives every listener timeouts and a connection cap by default', () => {
    const { websocket, http, mqtt } = parseConfig({ plugins: { websocket: true, http: true, mqtt: true } }).plugins
    assert.deepEqual(
      {
        headersTimeoutMs: http?.headersTimeoutMs,
        requestTimeoutMs: http?.requestTimeoutMs,
        idleTimeoutMs: http?.idleTimeoutMs,
        keepAliveTimeoutMs: http?.keepAliveTimeoutMs,
        maxConnections: http?.maxConnections,
      },
      {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        idleTimeoutMs: 60_000,
        keepAliveTimeoutMs: 5_000,
        maxConnections: 10_000,
      },
    )
    assert.deepEqual(
      { headersTimeoutMs: websocket?.headersTimeoutMs, maxConnections: websocket?.maxConnections },
      { headersTimeoutMs: 10_000, maxConnections: 10_000 },
    )
    assert.deepEqual(
      { connectTimeoutMs: mqtt?.connectTimeoutMs, maxConnections: mqtt?.maxConnections },
      { connectTimeoutMs: 10_000, maxConnections: 10_000 },
    )
  })

  it('refuses garbage, zero ("never") and fractions, naming each field', () => {
    assert.deepEqual(
      configProblems({
        plugins: {
          http: { headersTimeoutMs: 'soon', idleTimeoutMs: 0, maxConnections: 0 },
          websocket: { headersTimeoutMs: 50, maxConnections: 1.5 },
          mqtt: { connectTimeoutMs: -1, maxConnections: '10' },
        },
      }),
      [
        'plugins.websocket.headersTimeoutMs: Too small: expected number to be >=100',
        'plugins.websocket.maxConnections: Invalid input: expected int, received number',
        'plugins.http.headersTimeoutMs: Invalid input: expected number, received string',
        'plugins.http.idleTimeoutMs: Too small: expected number to be >=100',
        'plugins.http.maxConnections: Too small: expected number to be >=1',
        'plugins.mqtt.connectTimeoutMs: Too small: expected number to be >=100',
        'plugins.mqtt.maxConnections: Invalid input: expected number, received string',
      ],
    )
  })

  it('refuses a headers timeout longer than the request timeout that includes it', () => {
    assert.deepEqual(configProblems({ plugins: { http: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } } }), [
      'plugins.http.headersTimeoutMs: headersTimeoutMs must not be more than requestTimeoutMs (a request includes its headers)',
    ])
  })
})
