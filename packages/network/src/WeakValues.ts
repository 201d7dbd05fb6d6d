/**
 * Values by key, held weakly: one live object per key while anything else
 * holds it, without the table keeping any alive. For immutable values decoded
 * or derived again and again (descriptors, DHT keys), so equal ones are one
 * object.
 *
 * @example
 * ```ts
 * const keys = new WeakValues<string, Uint8Array>()
 * const key = keys.get(nodeId, () => addressToBytes(nodeId))
 * ```
 */
export class WeakValues<K, V extends object> {
  private readonly live = new Map<K, WeakRef<V>>()
  private readonly registry = new FinalizationRegistry<K>((key) => {
    // The key may hold a newer value by now: only an emptied entry goes.
    if (this.live.get(key)?.deref() === undefined) this.live.delete(key)
  })

  /** The live value for `key`; else `make()`'s, kept as the live one. */
  get(key: K, make: () => V): V {
    const live = this.live.get(key)?.deref()
    if (live !== undefined) return live
    const value = make()
    this.live.set(key, new WeakRef(value))
    this.registry.register(value, key)
    return value
  }

  /** `value`, or the live value equal to it by `key`. */
  intern(key: K, value: V): V {
    return this.get(key, () => value)
  }

  get size(): number {
    return this.live.size
  }
}
