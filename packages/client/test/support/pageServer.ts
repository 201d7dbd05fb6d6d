import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An HTTP server for browser tests: the page, its bundle, and the chain's JSON-RPC on the same origin (no CORS). */
export interface PageServer {
  /** `http://127.0.0.1:<port>`; the page is at `/`, the JSON-RPC at `/rpc`. */
  readonly origin: string
  stop(): Promise<void>
}

/**
 * Serves `bundle` as `/page.js` from a page at `/`, and proxies `POST /rpc` to `rpcUrl`. `head` gives HTML put
 * before the bundle's script, given the server's origin (e.g. an inline script with the page's settings).
 */
export async function startPageServer(
  bundle: string,
  rpcUrl: string,
  head: (origin: string) => string = () => '',
): Promise<PageServer> {
  const upstreamUrl = new URL(rpcUrl)
  let origin = ''
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (req.method === 'POST' && url.pathname === '/rpc') {
      const upstream = httpRequest(
        {
          host: upstreamUrl.hostname,
          port: upstreamUrl.port,
          path: upstreamUrl.pathname,
          method: 'POST',
          headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, {
            'content-type': upstreamRes.headers['content-type'] ?? 'application/json',
          })
          upstreamRes.pipe(res)
        },
      )
      upstream.on('error', (error) => res.writeHead(502).end(error.message))
      req.pipe(upstream)
    } else if (url.pathname === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    } else if (url.pathname === '/') {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(`<!doctype html>${head(origin)}<script type="module" src="/page.js"></script>`)
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end()
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
