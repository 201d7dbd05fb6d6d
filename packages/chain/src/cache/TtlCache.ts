/**
 * Promises of looked-up values by key, each trusted for `ttlMs`, at most `maxEntries` of them (the oldest inserted
 * goes first). A look-up that fails is forgotten, so the next one asks again; concurrent look-ups of one key share
 * one promise.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { readonly value: Promise<V>; readonly expiresAt: number }>()

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
    /** Called with each look-up: whether it was answered from memory. */
    private readonly onLookup: (hit: boolean) => void = () => undefined,
  ) {}

  get size(): number {
    return this.entries.size
  }

  /** The value of `key`, from memory while fresh, else from `load` (unless `fresh`: then always from `load`). */
  get(key: K, load: () => Promise<V>, fresh = false): Promise<V> {
    return (fresh ? undefined : this.lookup(key)) ?? this.load(key, load)
  }

  /** The value of `key` if it is in memory and fresh (a hit); undefined otherwise. No allocation: the hot path. */
  lookup(key: K): Promise<V> | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined || entry.expiresAt <= this.now()) return undefined
    this.onLookup(true)
    return entry.value
  }

  /** Loads `key` (a miss) and keeps the promise for the TTL. */
  load(key: K, load: () => Promise<V>): Promise<V> {
    this.onLookup(false)
    const value = load()
    value.catch(() => this.forgetIf(key, value))
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as K)
    }
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs })
    return value
  }

  /** Forgets `key` if it still holds `value` (a newer look-up may have replaced it). */
  forgetIf(key: K, value: Promise<V>): void {
    if (this.entries.get(key)?.value === value) this.entries.delete(key)
  }

  /** Forgets `key`; true if it was there. */
  delete(key: K): boolean {
    return this.entries.delete(key)
  }

  /** Forgets every key `matches` accepts; how many it forgot. */
  deleteWhere(matches: (key: K) => boolean): number {
    let deleted = 0
    for (const key of this.entries.keys()) {
      if (matches(key)) {
        this.entries.delete(key)
        deleted++
      }
    }
    return deleted
  }

  clear(): void {
    this.entries.clear()
  }
}
