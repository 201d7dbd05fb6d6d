import { ClientError } from '../errors.js'

/**
 * A client's life: not started, started (its node runs; once, on the first call that needs the network), destroyed
 * (every later call throws `DESTROYED`).
 */
export class ClientLifecycle {
  private started: Promise<void> | undefined
  private destroyed = false

  /** `startOnce` connects: run at the first {@link start}, never again. */
  constructor(private readonly startOnce: () => Promise<void>) {}

  get isDestroyed(): boolean {
    return this.destroyed
  }

  /** Starts the client if it hasn't been. @throws {@link ClientError} `DESTROYED` */
  start(): Promise<void> {
    this.assertAlive()
    this.started ??= this.startOnce()
    return this.started
  }

  /** @throws {@link ClientError} `DESTROYED` */
  assertAlive(): void {
    if (this.destroyed) throw new ClientError('DESTROYED', 'this client was destroyed')
  }

  /** Marks the client destroyed; false when it already was. */
  destroy(): boolean {
    if (this.destroyed) return false
    this.destroyed = true
    return true
  }
}
