import { STATUS_CODES } from 'node:http'
import { NodeError } from '../../errors.js'

export type WebSocketAction = 'publish' | 'subscribe'

/** What an upgrade request asks for: the stream, the direction, and its query parameters. */
export interface WebSocketRoute {
  readonly streamId: string
  readonly action: WebSocketAction
  readonly path: string
  readonly query: URLSearchParams
}

export const ROUTE_HINT = 'connect to /streams/<url-encoded stream id>/subscribe or /streams/<url-encoded stream id>/publish'

/**
 * Reads `/streams/<stream id>/{publish,subscribe}` from a request URL. The id
 * should be URL-encoded, but an unencoded one (with its slashes) is accepted:
 * the action is always the last segment. Undefined: no such endpoint.
 *
 * @throws {@link NodeError} `BAD_REQUEST` when the stream id is not valid URL encoding
 */
export function parseRoute(url: string | undefined): WebSocketRoute | undefined {
  // Prefixing the origin (rather than resolving against it) keeps a path like `//x` a path.
  const parsed = URL.parse(`http://localhost${url?.startsWith('/') === true ? url : '/'}`)
  if (parsed === null) return undefined
  const match = /^\/streams\/(.+)\/(publish|subscribe)$/.exec(parsed.pathname)
  if (match === null) return undefined
  let streamId: string
  try {
    streamId = decodeURIComponent(match[1]!)
  } catch {
    throw new NodeError('BAD_REQUEST', `the stream id in ${parsed.pathname} is not valid URL encoding`)
  }
  return { streamId, action: match[2] as WebSocketAction, path: parsed.pathname, query: parsed.searchParams }
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
