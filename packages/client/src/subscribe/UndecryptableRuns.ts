import type { StreamMessage } from '@runnel/protocol'
import { KeyUnavailableError, type ClientError } from '../errors.js'

interface Run {
  readonly message: StreamMessage
  readonly reason: ClientError
  last: StreamMessage
  count: number
}

/**
 * Collects consecutive messages of a chain that failed for the same missing key, and reports them as one
 * {@link KeyUnavailableError} when the run ends: the chain reads on past the key, goes idle, or the caller says so.
 * Memory: one open run per chain that has one.
 */
export class UndecryptableRuns {
  private readonly runs = new Map<string, Run>()

  constructor(private readonly report: (error: KeyUnavailableError) => void) {}

  /** A message of `chain` that couldn't be read for want of its key. */
  failed(chain: string, message: StreamMessage, reason: ClientError): void {
    const run = this.runs.get(chain)
    if (run !== undefined && run.message.groupKeyId === message.groupKeyId) {
      run.last = message
      run.count++
      return
    }
    this.flush(chain)
    this.runs.set(chain, { message, reason, last: message, count: 1 })
  }

  /** Reports the chain's run, if it has one. */
  flush(chain: string): void {
    const run = this.runs.get(chain)
    if (run === undefined) return
    this.runs.delete(chain)
    const { message } = run
    this.report(
      new KeyUnavailableError(
        {
          streamPartId: message.streamPartId,
          publisherId: message.publisherId,
          msgChainId: message.messageChainId,
          groupKeyId: message.groupKeyId ?? '',
          first: refOf(message),
          last: refOf(run.last),
          count: run.count,
        },
        run.reason,
      ),
    )
  }

  /** Reports every run whose chain `done` says is through. */
  flushWhere(done: (chain: string) => boolean): void {
    for (const chain of [...this.runs.keys()]) if (done(chain)) this.flush(chain)
  }
}

export function chainOf(message: StreamMessage): string {
  return `${message.streamPartId}/${message.publisherId}/${message.messageChainId}`
}

function refOf(message: StreamMessage): string {
  return `${message.timestamp}:${message.sequenceNumber}`
}
