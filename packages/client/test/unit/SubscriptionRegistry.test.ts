import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock, parseEthereumAddress, toStreamId, type StreamPartId } from '@runnel/protocol'
import { ClientEventHub } from '../../src/events/ClientEventHub.js'
import { ClientError } from '../../src/index.js'
import { SubscriptionRegistry, type SubscriptionRegistryComponents } from '../../src/subscribe/SubscriptionRegistry.js'

const OWNER = parseEthereumAddress('0x' + '11'.repeat(20))
const STREAM_ID = toStreamId(OWNER, '/registry')
const OTHER_ID = toStreamId(OWNER, '/other')

/** A registry over stand-ins that count what is joined and listened to; joins resolve when `joinsResolve`. */
function setup(joinsResolve = true) {
  const joined = new Map<StreamPartId, number>()
  const listeners = new Map<StreamPartId, number>()
  const bump = (map: Map<StreamPartId, number>, id: StreamPartId, by: number) => map.set(id, (map.get(id) ?? 0) + by)
  const components: SubscriptionRegistryComponents = {
    address: OWNER,
    start: () => Promise.resolve(),
    streams: {
      toStreamId: (id) => id,
      toStreamPart: (target) =>
        typeof target === 'string'
          ? { streamId: target, partition: undefined }
          : { streamId: target.id, partition: target.partition },
      partitionsOf: (_id, requested) => Promise.resolve(requested === undefined ? [0, 1] : [requested]),
    },
    maySubscribe: () => Promise.resolve(true),
    joins: {
      joinToSubscribe: (id) => {
        bump(joined, id, 1)
        return {
          joined: joinsResolve ? Promise.resolve() : new Promise<void>(() => {}),
          release: () => bump(joined, id, -1),
        }
      },
    },
    feed: {
      addMessageListener: (id) => {
        bump(listeners, id, 1)
        return () => bump(listeners, id, -1)
      },
    },
    history: { resend: async function* () {} },
    validate: () => Promise.resolve(true),
    opener: { openReporting: (m) => Promise.resolve(m) },
    events: new ClientEventHub(),
    clock: new ManualClock(0),
  }
  const total = (map: Map<StreamPartId, number>) => [...map.values()].reduce((a, b) => a + b, 0)
  return {
    registry: new SubscriptionRegistry(components),
    joined: () => total(joined),
    listening: () => total(listeners),
  }
}

describe('SubscriptionRegistry', () => {
  it('lists and ends subscriptions by subscription, stream part, stream, or all', async () => {
    const { registry, joined, listening } = setup()
    const whole = await registry.subscribe(STREAM_ID, undefined, {})
    const zero = await registry.subscribe({ id: STREAM_ID, partition: 0 }, undefined, {})
    const other = await registry.subscribe(OTHER_ID, undefined, {})
    assert.deepEqual(registry.list({ id: STREAM_ID, partition: 1 }), [whole])
    assert.deepEqual(registry.list(STREAM_ID), [whole, zero])
    assert.equal(registry.unsubscribe({ id: STREAM_ID, partition: 1 }), 1)
    assert.deepEqual(registry.list(), [zero, other])
    assert.equal(registry.unsubscribe(zero), 1)
    assert.equal(registry.unsubscribe(STREAM_ID), 0)
    assert.equal(registry.unsubscribe(), 1)
    assert.deepEqual(registry.list(), [])
    assert.equal(joined(), 0)
    assert.equal(listening(), 0)
  })

  it('gives up a subscribe whose joins wait when its signal fires, releasing every join and listener', async () => {
    const { registry, joined, listening } = setup(false)
    const controller = new AbortController()
    const subscribing = registry.subscribe(STREAM_ID, undefined, { signal: controller.signal })
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(joined(), 2, 'both partitions are being joined')
    controller.abort()
    await assert.rejects(subscribing, (err) => err instanceof ClientError && err.code === 'ABORTED')
    assert.equal(joined(), 0)
    assert.equal(listening(), 0)
    assert.deepEqual(registry.list(), [])
  })

  it('resolves resendCompleted at once for a subscription without resend', async () => {
    const { registry } = setup()
    const subscription = await registry.subscribe(STREAM_ID, undefined, {})
    await subscription.resendCompleted
  })
})
