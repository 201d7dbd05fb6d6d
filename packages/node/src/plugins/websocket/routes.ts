import { STATUS_CODES } from 'node:http'
import { parseRequestStreamId } from '../../api/requests.js'
import { NodeError } from '../../errors.js'

export type WebSocketAction = 'publish' | 'subscribe'

/** The stream and direction a WebSocket path names. */
export interface WebSocketEndpoint {
  readonly streamId: string
  readonly action: WebSocketAction
}

export const ENDPOINT_HINT =
  'connect to /streams/<url-encoded stream id>/subscribe or /streams/<url-encoded stream id>/publish'

/** Splits a request target into its path and query; anything unparseable reads as `/`. */
export function parseRequestUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  let parsed: URL
  try {
    // Prefixing the origin, rather than resolving against it, keeps a target like `//x` a path.
    parsed = new URL(`http://localhost${url?.startsWith('/') === true ? url : '/'}`)
  } catch {
    parsed = new URL('http://localhost/')
  }
  return { path: parsed.pathname, query: parsed.searchParams }
}

/**
 * Reads `/streams/<stream id>/{publish,subscribe}`. The id should be
 * URL-encoded, but an unencoded one (with its slashes) works too: the action
 * is always the last segment. Undefined: no such endpoint.
 *
 * @throws {@link NodeError} `BAD_REQUEST` when the stream id is not valid URL encoding, or not a valid stream id
 */
export function parseEndpoint(path: string): WebSocketEndpoint | undefined {
  const match = /^\/streams\/(.+)\/(publish|subscribe)$/.exec(path)
  if (match === null) return undefined
  let streamId: string
  try {
    streamId = decodeURIComponent(match[1]!)
  } catch {
    throw new NodeError('BAD_REQUEST', `the stream id in ${path} is not valid URL encoding`)
  }
  return { streamId: parseRequestStreamId(streamId), action: match[2] as WebSocketAction }
}

/** A complete HTTP/1.1 response with a JSON body, for refusing an upgrade on the raw socket. */
export function httpResponse(status: number, body: unknown, headers: Record<string, string> = {}): string {
  const text = JSON.stringify(body)
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(text)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ]
  return `${lines.join('\r\n')}\r\n\r\n${text}`
}
