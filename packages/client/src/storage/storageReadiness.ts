import { sleep, systemClock, type Clock } from '@runnel/protocol'
import { ClientError } from '../errors.js'

export interface WaitForStorageNodeOptions {
  /** Give up after this long. Default 30 s. */
  readonly timeoutMs?: number
  /** Between asks. Default 250 ms. */
  readonly intervalMs?: number
  readonly signal?: AbortSignal
  readonly clock?: Clock
}

/**
 * Resolves once the storage node whose history API is at `url` answers history requests for `streamId`: it has seen
 * its assignment on chain and stores the stream. Asks `last?count=0` of partition 0, which a node answers with
 * 404 until then.
 *
 * @example
 * ```ts
 * await waitUntilStorageNodeServes('http://127.0.0.1:7171', streamId, { timeoutMs: 10_000 })
 * ```
 * @throws {@link ClientError} `TIMEOUT` when the node doesn't within `timeoutMs`; the signal's reason when aborted
 */
export async function waitUntilStorageNodeServes(
  url: string,
  streamId: string,
  options: WaitForStorageNodeOptions = {},
): Promise<void> {
  const clock = options.clock ?? systemClock
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = clock.now() + timeoutMs
  const probe = `${url.replace(/\/+$/, '')}/streams/${encodeURIComponent(streamId)}/data/partitions/0/last?count=0&format=ndjson`
  let lastAnswer: string | undefined
  for (;;) {
    options.signal?.throwIfAborted()
    // A node that takes the connection but never answers must not hold the wait past its deadline.
    const attempt = new AbortController()
    const timer = clock.setTimeout(() => attempt.abort(), Math.max(0, deadline - clock.now()))
    const signal = options.signal === undefined ? attempt.signal : AbortSignal.any([options.signal, attempt.signal])
    try {
      const response = await fetch(probe, { signal })
      // Read the body to the end so the connection can be reused (it is empty for count=0).
      await response.arrayBuffer()
      if (response.ok) return
      lastAnswer = `HTTP ${response.status}`
    } catch (err) {
      options.signal?.throwIfAborted()
      // Cut at the deadline: the answer before it says more than the cut.
      lastAnswer = attempt.signal.aborted
        ? (lastAnswer ?? 'no answer')
        : err instanceof Error
          ? err.message
          : String(err)
    } finally {
      timer.cancel()
    }
    const left = deadline - clock.now()
    if (left <= 0) {
      throw new ClientError(
        'TIMEOUT',
        `storage node ${url} did not serve ${streamId} within ${timeoutMs} ms (last answer: ${lastAnswer ?? 'none'})`,
      )
    }
    await sleep(clock, Math.min(options.intervalMs ?? 250, left), options.signal)
  }
}
