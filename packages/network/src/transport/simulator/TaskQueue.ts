export interface ScheduledTask {
  readonly at: number
  /** Orders tasks due at the same moment by when they were scheduled, which keeps runs reproducible. */
  readonly seq: number
  readonly run: () => void
}

function isEarlier(a: ScheduledTask, b: ScheduledTask): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Binary min-heap of tasks by (at, seq). */
export class TaskQueue {
  private items: ScheduledTask[] = []

  peek(): ScheduledTask | undefined {
    return this.items[0]
  }

  push(task: ScheduledTask): void {
    const items = this.items
    let index = items.length
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex]
      if (parent === undefined || !isEarlier(task, parent)) break
      items[index] = parent
      index = parentIndex
    }
    items[index] = task
  }

  pop(): ScheduledTask | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (last === undefined || items.length === 0) return top
    let index = 0
    for (;;) {
      let childIndex = 2 * index + 1
      let child = items[childIndex]
      if (child === undefined) break
      const right = items[childIndex + 1]
      if (right !== undefined && isEarlier(right, child)) {
        child = right
        childIndex++
      }
      if (!isEarlier(child, last)) break
      items[index] = child
      index = childIndex
    }
    items[index] = last
    return top
  }

  clear(): void {
    this.items = []
  }
}
