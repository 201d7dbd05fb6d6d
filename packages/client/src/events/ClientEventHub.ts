import type { ClientEvents } from '../types.js'

type Listeners = { [K in keyof ClientEvents]: Set<ClientEvents[K]> }

/** Emits one kind of client event; what the pieces of a client get instead of the whole hub. */
export type Emit = <K extends keyof ClientEvents>(type: K, ...args: Parameters<ClientEvents[K]>) => void

/**
 * The client's events (`gap`, `invalidMessage`, `error`, `retentionDrop`): listeners by type, and the one rule for
 * app callbacks: one that throws never breaks delivery; its error goes to the `error` listeners, whose own errors
 * are dropped (there is nowhere left to report them).
 *
 * @example
 * ```ts
 * const events = new ClientEventHub()
 * const off = events.on('gap', (gap) => console.warn(gap))
 * events.emit('gap', gap)
 * off()
 * ```
 */
export class ClientEventHub {
  private readonly listeners: Listeners = {
    gap: new Set(),
    invalidMessage: new Set(),
    error: new Set(),
    retentionDrop: new Set(),
  }

  /** Registers a listener; returns a function that removes it. */
  on<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): () => void {
    const set = this.listeners[type] as Set<ClientEvents[K]>
    set.add(listener)
    return () => set.delete(listener)
  }

  readonly emit: Emit = (type, ...args) => {
    for (const listener of this.listeners[type]) {
      const call = (): void => (listener as (...a: unknown[]) => void)(...args)
      if (type !== 'error') {
        this.safely(call)
        continue
      }
      try {
        call()
      } catch {
        // An error listener that throws has nowhere to report to.
      }
    }
  }

  /** Reports an error of any kind to the `error` listeners. */
  readonly emitError = (err: unknown): void => {
    this.emit('error', err instanceof Error ? err : new Error(String(err)))
  }

  /** Runs an app callback: its error goes to the `error` listeners instead of up the caller's stack. */
  readonly safely = (call: () => void): void => {
    try {
      call()
    } catch (err) {
      for (const listener of this.listeners.error) {
        try {
          listener(err instanceof Error ? err : new Error(String(err)))
        } catch {
          // Nowhere left to report it.
        }
      }
    }
  }
}
