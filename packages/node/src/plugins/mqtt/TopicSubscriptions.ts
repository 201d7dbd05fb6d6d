import type { ApiSubscription } from '../../api/ApiGateway.js'

interface SharedSubscription<Subscriber> {
  /** Each subscriber, with its granted QoS once the broker has granted the subscription. */
  readonly subscribers: Map<Subscriber, number | undefined>
  readonly opened: Promise<ApiSubscription>
}

/**
 * One network subscription per MQTT topic, shared by every MQTT client
 * subscribed to that topic: opened by the first, closed when the last one
 * leaves.
 */
export class TopicSubscriptions<Subscriber> {
  private readonly topics = new Map<string, SharedSubscription<Subscriber>>()
  private readonly bySubscriber = new Map<Subscriber, Set<string>>()

  /**
   * Adds a subscriber to a topic, calling `open` when the topic has none yet.
   * Resolves once the network subscription is open; rejects (and forgets the
   * subscriber) when it can't be. Messages go to the subscriber once {@link grant}ed.
   */
  async add(subscriber: Subscriber, topic: string, open: () => Promise<ApiSubscription>): Promise<void> {
    let shared = this.topics.get(topic)
    if (shared === undefined) {
      const created: SharedSubscription<Subscriber> = { subscribers: new Map(), opened: open() }
      this.topics.set(topic, created)
      // Forget a topic that failed to open, so the next subscriber tries again rather than inheriting the error.
      void created.opened.catch(() => {
        if (this.topics.get(topic) === created) this.topics.delete(topic)
      })
      shared = created
    }
    if (!shared.subscribers.has(subscriber)) shared.subscribers.set(subscriber, undefined)
    let topics = this.bySubscriber.get(subscriber)
    if (topics === undefined) this.bySubscriber.set(subscriber, (topics = new Set()))
    topics.add(topic)
    try {
      await shared.opened
    } catch (err) {
      this.remove(subscriber, topic)
      throw err
    }
  }

  /** Whether the subscriber is (still) subscribed to the topic, granted or not. */
  has(subscriber: Subscriber, topic: string): boolean {
    return this.topics.get(topic)?.subscribers.has(subscriber) ?? false
  }

  /** Starts delivery to a subscriber at the QoS the broker granted. */
  grant(subscriber: Subscriber, topic: string, qos: number): void {
    const shared = this.topics.get(topic)
    if (shared?.subscribers.has(subscriber)) shared.subscribers.set(subscriber, qos)
  }

  /** The granted subscribers of a topic, with their QoS. */
  *recipients(topic: string): Generator<[Subscriber, number]> {
    for (const [subscriber, qos] of this.topics.get(topic)?.subscribers ?? []) {
      if (qos !== undefined) yield [subscriber, qos]
    }
  }

  remove(subscriber: Subscriber, topic: string): void {
    const topics = this.bySubscriber.get(subscriber)
    topics?.delete(topic)
    if (topics?.size === 0) this.bySubscriber.delete(subscriber)
    const shared = this.topics.get(topic)
    if (shared === undefined || !shared.subscribers.delete(subscriber) || shared.subscribers.size > 0) return
    this.topics.delete(topic)
    close(shared)
  }

  removeAll(subscriber: Subscriber): void {
    for (const topic of [...(this.bySubscriber.get(subscriber) ?? [])]) this.remove(subscriber, topic)
  }

  closeAll(): void {
    for (const shared of this.topics.values()) close(shared)
    this.topics.clear()
    this.bySubscriber.clear()
  }
}

function close(shared: SharedSubscription<unknown>): void {
  // Still opening: close it once open. A failure was already reported to the subscribers who waited for it.
  void shared.opened.then(
    (subscription) => subscription.unsubscribe(),
    () => undefined,
  )
}
