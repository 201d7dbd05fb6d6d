/** The explorer server's `/api`, as the page calls it: JSON answers and server-sent event feeds. */

import type { ApiError } from '../../src/api.js'

/** A failed API call, with the server's error code when it sent one (`http` when it didn't, `network` offline). */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError'

  constructor(
    readonly code: string,
    message: string,
    readonly status: number | null,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

/**
 * GETs a JSON route. The answer's type is the contract in `src/api.ts`, which the server and this page share; it is
 * trusted as such (same origin, same release).
 *
 * @throws {ApiRequestError} on an error answer or when the server can't be reached
 * @throws {DOMException} `AbortError` when `signal` aborts
 */
export function getJson<T>(path: string, signal: AbortSignal): Promise<T> {
  return requestJson<T>(path, { headers: { accept: 'application/json' } }, signal)
}

/** POSTs `body` as JSON to a route and reads its JSON answer, as {@link getJson} does. */
export function postJson<T>(path: string, body: unknown, signal: AbortSignal): Promise<T> {
  return requestJson<T>(
    path,
    {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    },
    signal,
  )
}

async function requestJson<T>(path: string, init: RequestInit, signal: AbortSignal): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, { ...init, signal })
  } catch (error: unknown) {
    if (signal.aborted) throw error
    throw new ApiRequestError('network', 'The explorer server could not be reached.', null, { cause: error })
  }
  let body: unknown
  try {
    body = await response.json()
  } catch (error: unknown) {
    if (signal.aborted) throw error
    throw new ApiRequestError('http', `The server answered HTTP ${response.status} without JSON.`, response.status, {
      cause: error,
    })
  }
  if (!response.ok) {
    const message = isApiError(body) ? body.error.message : `The server answered HTTP ${response.status}.`
    throw new ApiRequestError(isApiError(body) ? body.error.code : 'http', message, response.status)
  }
  return body as T
}

function isApiError(body: unknown): body is ApiError {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false
  const { error } = body
  return typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string'
}

/** True for the rejection of a call whose signal aborted (the user left the page): nothing to show. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError'
}

/** What to tell the user about an error. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export type FeedStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface FeedOptions {
  /** Handlers by event name, given the event's parsed JSON. */
  readonly events: Readonly<Record<string, (data: unknown) => void>>
  readonly onStatus?: (status: FeedStatus) => void
  /** Closes the feed. */
  readonly signal: AbortSignal
}

/**
 * Subscribes to a server-sent event feed. The browser reconnects by itself after a dropped connection; it gives up
 * (`closed`) when the server refuses the feed (an error answer instead of an event stream).
 */
export function openFeed(url: string, options: FeedOptions): void {
  if (options.signal.aborted) return
  const source = new EventSource(url)
  options.onStatus?.('connecting')
  source.onopen = () => options.onStatus?.('open')
  source.onerror = () => options.onStatus?.(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting')
  for (const [name, handle] of Object.entries(options.events)) {
    source.addEventListener(name, (event: MessageEvent<string>) => {
      let data: unknown
      try {
        data = JSON.parse(event.data)
      } catch {
        return // A malformed event: the next one will do.
      }
      handle(data)
    })
  }
  options.signal.addEventListener('abort', () => source.close(), { once: true })
}
