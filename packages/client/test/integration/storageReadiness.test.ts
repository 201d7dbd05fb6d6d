import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { ClientError, waitUntilStorageNodeServes } from '../../src/index.js'

/** An HTTP server on 127.0.0.1 answering each request with `answer(index of the request)`; undefined never answers. */
async function startServer(
  answer: (request: number, url: string) => number | undefined,
): Promise<{ url: string; server: Server }> {
  let requests = 0
  const server = createServer((req, res) => {
    const status = answer(requests++, req.url ?? '')
    if (status === undefined) return
    res.writeHead(status, { 'content-type': 'application/x-ndjson' }).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

describe('waitUntilStorageNodeServes', () => {
  const servers: Server[] = []
  after(() => {
    for (const server of servers) server.closeAllConnections()
    return Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  })

  it('asks until the node answers for the stream, at the history URL of partition 0', async () => {
    const urls: string[] = []
    const { url, server } = await startServer((request, path) => {
      urls.push(path)
      return request < 2 ? 404 : 200
    })
    servers.push(server)
    await waitUntilStorageNodeServes(`${url}/`, '0xabc/s p', { intervalMs: 10 })
    assert.equal(urls.length, 3)
    assert.equal(urls[0], '/streams/0xabc%2Fs%20p/data/partitions/0/last?count=0&format=ndjson')
  })

  it('gives up with TIMEOUT naming the last answer, also when the node never answers', async () => {
    const refusing = await startServer(() => 404)
    const silent = await startServer(() => undefined)
    servers.push(refusing.server, silent.server)
    // The refusing node gets time to answer at least once even on a busy machine; the silent one never does.
    for (const [target, timeoutMs, last] of [
      [refusing.url, 2_000, /HTTP 404/],
      [silent.url, 300, /no answer/],
    ] as const) {
      await assert.rejects(
        waitUntilStorageNodeServes(target, 'a/b', { timeoutMs, intervalMs: 20 }),
        (err: unknown) => err instanceof ClientError && err.code === 'TIMEOUT' && last.test(err.message),
      )
    }
  })

  it('ends with the signal’s reason when aborted', async () => {
    const { url, server } = await startServer(() => 404)
    servers.push(server)
    const controller = new AbortController()
    const waiting = waitUntilStorageNodeServes(url, 'a/b', { signal: controller.signal, intervalMs: 20 })
    setTimeout(() => controller.abort(new Error('stop')), 50)
    await assert.rejects(waiting, /stop/)
  })
})
