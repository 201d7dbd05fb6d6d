import { NodeError } from '../errors.js'

/** Which of an API client's quotas a request went over. */
export type QuotaKind = 'messages' | 'bytes' | 'connections'

/**
 * A `RATE_LIMITED` refusal for an API client over one of its quotas (`quotas` in the node config), with how long
 * to wait: HTTP answers 429 with `Retry-After`, a WebSocket an error frame carrying `retryAfterSeconds`.
 *
 * @example
 * ```ts
 * if (err instanceof QuotaError) response.setHeader('retry-after', String(err.retryAfterSeconds))
 * ```
 */
export class QuotaError extends NodeError {
  override readonly name = 'QuotaError'

  constructor(
    readonly quota: QuotaKind,
    message: string,
    /** Whole seconds until the request would pass; undefined when it never would (a batch larger than the burst). */
    readonly retryAfterSeconds: number | undefined,
  ) {
    super('RATE_LIMITED', message)
  }
}
