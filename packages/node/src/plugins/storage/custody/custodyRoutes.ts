import type { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { NodeError } from '../../../errors.js'
import type { KeyCustodyService } from './KeyCustodyService.js'

/** Largest custody request body: a deposit is under 2 kB, a request for 100 keys about 5 kB. */
const MAX_BODY_BYTES = 16 * 1024

/**
 * Key custody's HTTP API on a storage node (docs/protocol.md, "Key custody"):
 * `GET /custody/node`, `POST /custody/shares` (a publisher deposits a share),
 * `POST /custody/keys` (a subscriber asks for shares). Public like history:
 * each request is authorised by its signature and the chain, not an API key.
 */
export function addCustodyRoutes(app: Hono, service: () => KeyCustodyService | undefined): void {
  const running = (): KeyCustodyService => {
    const found = service()
    if (found === undefined) throw new NodeError('STORAGE_UNAVAILABLE', 'key custody is not running on this node')
    return found
  }
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new NodeError('PAYLOAD_TOO_LARGE', `a key custody request is at most ${MAX_BODY_BYTES} bytes`)
    },
  })
  app.get('/custody/node', (c) => c.json(running().identity()))
  app.post('/custody/shares', limit, async (c) => c.json(await running().deposit(await readJson(c.req.raw))))
  app.post('/custody/keys', limit, async (c) => c.json(await running().answer(await readJson(c.req.raw))))
}

async function readJson(request: Request): Promise<unknown> {
  const text = await request.text()
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new NodeError('BAD_REQUEST', 'a key custody request body is JSON')
  }
}
