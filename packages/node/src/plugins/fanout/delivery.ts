import type { PushbackLimits } from './Pushback.js'

/** The `delivery` config section (docs/node.md, "Fan-out, shedding and pushback"). */
export interface DeliveryLimits extends PushbackLimits {
  /** A subscriber with more than this unsent is disconnected (WebSocket close 1008, MQTT connection closed). */
  readonly maxSubscriberBufferBytes: number
  /** One full garbage collection once a load of deliveries is over (see `CollectAfterLoad`). */
  readonly collectAfterLoad: boolean
}

/** The config's defaults, for a gateway made without a config. */
export const DEFAULT_DELIVERY_LIMITS: DeliveryLimits = Object.freeze({
  maxSubscriberBufferBytes: 8 * 1024 * 1024,
  maxPendingPublishes: 10_000,
  maxQueuedDeliveryBytes: 512 * 1024 * 1024,
  retryAfterMs: 1_000,
  collectAfterLoad: true,
})
