import { ClientError } from './errors.js'

/**
 * `ABORTED` for a call whose signal fired; the signal's reason is the cause (a `TimeoutError` for
 * `AbortSignal.timeout`).
 */
export function abortedError(signal: AbortSignal, what: string): ClientError {
  return new ClientError('ABORTED', `${what} was aborted`, { cause: signal.reason })
}

/** Throws `ABORTED` if the signal has fired: the check between the steps of a call. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw abortedError(signal, what)
}

/**
 * Waits for `promise`, or rejects with `ABORTED` as soon as `signal` fires. The promise itself goes on (what can't be
 * called back, such as a sent transaction, still happens); `onAbort` undoes what can be. The abort listener is
 * removed either way, so a long-lived signal collects none.
 *
 * @example
 * ```ts
 * await raceAbort(node.join(streamPartId), options.signal, 'subscribe', () => release())
 * ```
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
  onAbort?: () => void,
): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) {
    // The promise's own outcome no longer matters: keep a rejection of it from going unhandled.
    promise.catch(() => {})
    onAbort?.()
    return Promise.reject(abortedError(signal, what))
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      promise.catch(() => {})
      onAbort?.()
      reject(abortedError(signal, what))
    }
    signal.addEventListener('abort', abort, { once: true })
    promise.finally(() => signal.removeEventListener('abort', abort)).then(resolve, reject)
  })
}
