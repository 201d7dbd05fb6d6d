import { NetworkError } from '../errors.js'
import type { StreamPartOverlay } from './StreamPartOverlay.js'

/** When a `join()` resolves: the fields of `JoinOptions` it uses. */
export interface NeighborWait {
  readonly minNeighbors?: number
  readonly orWhenSettled?: boolean
  readonly signal?: AbortSignal
}

/**
 * Resolves once `connected()` reaches `minNeighbors` (or, with
 * `orWhenSettled`, once the join has settled with fewer), at once if it holds
 * already. The overlay releases the waiter on changes (`notifyNeighborCount`)
 * and when it closes: resolved when the node left, rejected with the node's
 * failure.
 *
 * @throws {@link NetworkError} `TIMEOUT` / `ABORTED` when the signal fires first
 */
export function waitForNeighbors(
  overlay: StreamPartOverlay,
  options: NeighborWait,
  connected: () => number,
): Promise<void> {
  const minNeighbors = options.minNeighbors ?? 0
  const settled = options.orWhenSettled ?? false
  if (connected() >= minNeighbors || (settled && overlay.isSettled())) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const waiter = {
      count: minNeighbors,
      settled,
      resolve: () => done(resolve),
      reject: (error: Error) => done(() => reject(error)),
    }
    const signal = options.signal
    const onAbort = (): void =>
      done(() => {
        overlay.neighborWaiters.delete(waiter)
        const reason: unknown = signal?.reason
        const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError'
        reject(
          new NetworkError(
            timedOut ? 'TIMEOUT' : 'ABORTED',
            `joining ${overlay.streamPartId}: ${connected()} of ${minNeighbors} neighbours connected`,
          ),
        )
      })
    const done = (finish: () => void): void => {
      signal?.removeEventListener('abort', onAbort)
      finish()
    }
    if (signal?.aborted === true) {
      onAbort()
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    overlay.neighborWaiters.add(waiter)
  })
}
