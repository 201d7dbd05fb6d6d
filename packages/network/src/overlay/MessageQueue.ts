/**
 * A bounded single-consumer queue exposed as an async iterable. When full,
 * the oldest item is dropped and counted: a slow reader loses old messages
 * rather than growing memory without bound.
 */
export class MessageQueue<T> implements AsyncIterable<T> {
  private items: T[] = []
  private head = 0
  private waiting: ((result: IteratorResult<T>) => void) | undefined
  private closed = false
  private closeHandlers: (() => void)[] = []
  dropped = 0

  constructor(private readonly capacity: number) {}

  push(item: T): void {
    if (this.closed) return
    if (this.waiting !== undefined) {
      const resolve = this.waiting
      this.waiting = undefined
      resolve({ value: item, done: false })
      return
    }
    if (this.items.length - this.head >= this.capacity) {
      // Release the dropped item now, not when a reader next comes by.
      this.items[this.head++] = undefined as T
      this.dropped++
    }
    this.items.push(item)
    this.compact()
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }

  onClose(handler: () => void): void {
    this.closeHandlers.push(handler)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    for (const handler of this.closeHandlers) handler()
    this.waiting?.({ value: undefined, done: true })
    this.waiting = undefined
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.head < this.items.length) {
          const value = this.items[this.head]!
          this.items[this.head++] = undefined as T
          this.compact()
          return Promise.resolve({ value, done: false })
        }
        if (this.closed) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve) => {
          this.waiting = resolve
        })
      },
      return: () => {
        this.close()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }
}
