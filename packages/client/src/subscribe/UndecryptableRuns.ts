import { systemClock, type Clock, type StreamMessage } from '@runnel/protocol'
import { KeyUnavailableError, type ClientError } from '../errors.js'
import { clockScheduler, type Scheduler } from '../ordering/OrderingBuffer.js'

export interface UndecryptableRunsOptions {
  /**
   * After a chain's run of a key is reported, more failures of that key in that chain are reported together at most
   * this often (a chain that keeps sending under a key nobody hands out is one report per period, not per message).
   * Default 30 s, the time a failed key isn't asked for again.
   */
  readonly quietMs?: number
  /** Where time comes from. Default: the system clock. */
  readonly clock?: Clock
  /** Overrides the clock's `now` (tests that drive time by hand). */
  readonly now?: () => number
  /** Overrides the clock's timers. */
  readonly scheduler?: Scheduler
}

interface Run {
  readonly message: StreamMessage
  readonly reason: ClientError
  last: StreamMessage
  count: number
  timer: unknown
}

/** Chains whose last report time is remembered, at most (the one reported longest ago is forgotten first). */
const MAX_REMEMBERED_CHAINS = 1_000

/**
 * Collects consecutive messages of a chain that failed for the same missing key, and reports them as one
 * {@link KeyUnavailableError}: when the chain reads on past the key (`flush`), or when it goes idle (`settle`; at once
 * the first time, then at most once per `quietMs` for the same key). Memory: one open run per chain that has one,
 * and the last report of at most 1,000 chains.
 *
 * @example
 * ```ts
 * const runs = new UndecryptableRuns((error) => emit('error', error))
 * runs.failed(chainOf(message), message, err) // KEY_UNAVAILABLE
 * runs.settle(chainOf(message)) // the chain has nothing more to do for now
 * ```
 */
export class UndecryptableRuns {
  private readonly runs = new Map<string, Run>()
  private readonly reported = new Map<string, { readonly keyId: string; readonly at: number }>()
  private readonly quietMs: number
  private readonly now: () => number
  private readonly scheduler: Scheduler

  constructor(
    private readonly report: (error: KeyUnavailableError) => void,
    options: UndecryptableRunsOptions = {},
  ) {
    this.quietMs = options.quietMs ?? 30_000
    const clock = options.clock ?? systemClock
    this.now = options.now ?? (() => clock.now())
    this.scheduler = options.scheduler ?? clockScheduler(clock)
  }

  /** A message of `chain` that couldn't be read for want of its key. */
  failed(chain: string, message: StreamMessage, reason: ClientError): void {
    const run = this.runs.get(chain)
    if (run !== undefined && run.message.groupKeyId === message.groupKeyId) {
      run.last = message
      run.count++
      return
    }
    this.flush(chain)
    this.runs.set(chain, { message, reason, last: message, count: 1, timer: undefined })
  }

  /** The chain is about to work on `message`: a run of another key ends here (reported before the next key's wait). */
  next(chain: string, message: StreamMessage): void {
    const run = this.runs.get(chain)
    if (run !== undefined && run.message.groupKeyId !== message.groupKeyId) this.flush(chain)
  }

  /** The chain read on past its run (or failed otherwise): reports the run now, if it has one. */
  flush(chain: string): void {
    const run = this.runs.get(chain)
    if (run === undefined) return
    this.runs.delete(chain)
    if (run.timer !== undefined) this.scheduler.clearTimeout(run.timer)
    const { message } = run
    const keyId = message.groupKeyId ?? ''
    this.reported.delete(chain)
    this.reported.set(chain, { keyId, at: this.now() })
    if (this.reported.size > MAX_REMEMBERED_CHAINS) this.reported.delete(this.reported.keys().next().value as string)
    this.report(
      new KeyUnavailableError(
        {
          streamPartId: message.streamPartId,
          publisherId: message.publisherId,
          msgChainId: message.messageChainId,
          groupKeyId: keyId,
          first: refOf(message),
          last: refOf(run.last),
          count: run.count,
        },
        run.reason,
      ),
    )
  }

  /** The chain has nothing more to do for now: its run is reported, unless the same key's was just reported. */
  settle(chain: string): void {
    const run = this.runs.get(chain)
    if (run === undefined || run.timer !== undefined) return
    const last = this.reported.get(chain)
    const due = last === undefined || last.keyId !== run.message.groupKeyId ? 0 : last.at + this.quietMs - this.now()
    if (due <= 0) this.flush(chain)
    else run.timer = this.scheduler.setTimeout(() => this.flush(chain), due)
  }

  /** Settles every run whose chain `idle` says has nothing more to do. */
  settleWhere(idle: (chain: string) => boolean): void {
    for (const chain of [...this.runs.keys()]) if (idle(chain)) this.settle(chain)
  }

  /** Reports every open run now. */
  flushAll(): void {
    for (const chain of [...this.runs.keys()]) this.flush(chain)
  }

  /** Forgets every open run without reporting it (the subscription ended). */
  clear(): void {
    for (const run of this.runs.values()) if (run.timer !== undefined) this.scheduler.clearTimeout(run.timer)
    this.runs.clear()
  }
}

export function chainOf(message: StreamMessage): string {
  return `${message.streamPartId}/${message.publisherId}/${message.messageChainId}`
}

function refOf(message: StreamMessage): string {
  return `${message.timestamp}:${message.sequenceNumber}`
}
