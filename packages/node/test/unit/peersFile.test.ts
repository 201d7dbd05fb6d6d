import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { MAX_KNOWN_PEERS } from '@runnel/network'
import { pino } from 'pino'
import { PeersFile } from '../../src/PeersFile.js'

describe('the DHT peers file (network.dht.peersFile)', () => {
  let directory: string
  const warnings: string[] = []
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push((JSON.parse(chunk.toString()) as { msg: string }).msg)
        done()
      },
    }),
  )

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-peers-'))
  })
  after(() => rm(directory, { recursive: true, force: true }))

  it('reads what it saved, creating the directory, at most MAX_KNOWN_PEERS', async () => {
    const path = join(directory, 'state', 'peers.json')
    assert.deepEqual(new PeersFile(path, logger).read(), [], 'a missing file is no peers')
    const addresses = Array.from({ length: MAX_KNOWN_PEERS + 5 }, (_, index) => `ws://10.0.0.${index}:30400`)
    await new PeersFile(path, logger).save(addresses)
    assert.deepEqual(new PeersFile(path, logger).read(), addresses.slice(0, MAX_KNOWN_PEERS))
    const saved = JSON.parse(await readFile(path, 'utf8')) as { version: number; peers: string[] }
    assert.equal(saved.version, 1)
    assert.equal(saved.peers.length, MAX_KNOWN_PEERS)
  })

  it('keeps the saved peers when the node knows none for a moment', async () => {
    const path = join(directory, 'kept.json')
    const file = new PeersFile(path, logger)
    await file.save(['ws://10.0.0.1:30400'])
    await file.save([])
    assert.deepEqual(new PeersFile(path, logger).read(), ['ws://10.0.0.1:30400'])
  })

  it('ignores a malformed file with a warning, and replaces it at the next save', async () => {
    const path = join(directory, 'bad.json')
    for (const text of ['not json', '[]', '{"version":2,"peers":[]}', '{"version":1,"peers":[1]}', 'null']) {
      warnings.length = 0
      await writeFile(path, text)
      const file = new PeersFile(path, logger)
      assert.deepEqual(file.read(), [], text)
      assert.match(warnings.join('\n'), /not a list of peer addresses/, text)
    }
    const file = new PeersFile(path, logger)
    file.read()
    await file.save(['ws://10.0.0.2:30400'])
    assert.deepEqual(new PeersFile(path, logger).read(), ['ws://10.0.0.2:30400'])
  })

  it('logs, and does not throw, when the file cannot be written', async () => {
    const blocker = join(directory, 'a-file')
    await writeFile(blocker, '')
    warnings.length = 0
    await new PeersFile(join(blocker, 'peers.json'), logger).save(['ws://10.0.0.3:30400'])
    assert.match(warnings.join('\n'), /can't save the DHT peers file/)
  })
})
