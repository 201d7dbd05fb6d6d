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
 * events.once('error', (error) => console.error('first error', error))
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
  /** `once` listeners by event and the app's function, so `off` with that function finds the wrapper. */
  private readonly onceWrappers: { [K in keyof ClientEvents]?: WeakMap<object, ClientEvents[K]> } = {}

  /** Registers a listener; returns a function that removes it. Registering the same function twice keeps one. */
  on<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): () => void {
    const set = this.listeners[type] as Set<ClientEvents[K]>
    set.add(listener)
    return () => set.delete(listener)
  }

  /**
   * Registers a listener for the next event of `type` only; returns a function that removes it before then. `off`
   * with the same function removes it too.
   */
  once<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): () => void {
    const set = this.listeners[type] as Set<ClientEvents[K]>
    const wrappers = this.wrappersOf(type)
    const wrapper = ((...args: unknown[]) => {
      set.delete(wrapper)
      wrappers.delete(listener)
      ;(listener as (...a: unknown[]) => void)(...args)
    }) as ClientEvents[K]
    wrappers.set(listener, wrapper)
    set.add(wrapper)
    return () => this.off(type, listener)
  }

  /** Removes a listener added with `on` or `once`; a function that isn't registered is ignored. */
  off<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): void {
    const set = this.listeners[type] as Set<ClientEvents[K]>
    set.delete(listener)
    const wrappers = this.wrappersOf(type)
    const wrapper = wrappers.get(listener)
    if (wrapper !== undefined) {
      set.delete(wrapper)
      wrappers.delete(listener)
    }
  }

  /** How many listeners an event has (for tests and leak checks). */
  listenerCount(type: keyof ClientEvents): number {
    return this.listeners[type].size
  }

  private wrappersOf<K extends keyof ClientEvents>(type: K): WeakMap<object, ClientEvents[K]> {
    return ((this.onceWrappers as Record<K, WeakMap<object, ClientEvents[K]> | undefined>)[type] ??= new WeakMap())
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
