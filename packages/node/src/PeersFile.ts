import { readFileSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { MAX_KNOWN_PEERS } from '@runnel/network'
import type { Logger } from './logger.js'

const FORMAT_VERSION = 1
/** Longer entries are no transport address this node wrote. */
const MAX_ADDRESS_LENGTH = 512

/**
 * The DHT contacts a trackerless node saves (`network.dht.peersFile`) so that after a restart it rejoins through
 * them, even when every entry point is down or restarted knowing no one. A hint, not state: a missing or unreadable
 * file means none (logged), never a node that won't start. Written to a temporary file and renamed over the old one,
 * so a crash leaves the old list or the new one.
 *
 * @example
 * ```ts
 * const file = new PeersFile('/var/lib/runnel/peers.json', logger)
 * const knownPeers = file.read()
 * // ... start a node with dht: { knownPeers }, then from time to time and on stop:
 * await file.save(networkNode.dht?.knownPeers() ?? [])
 * ```
 */
export class PeersFile {
  private saved = ''
  private writing: Promise<void> = Promise.resolve()

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** The addresses saved last time (at most {@link MAX_KNOWN_PEERS}); none when the file is missing or malformed. */
  read(): string[] {
    let text: string
    try {
      // Once, before the node starts, and a few KiB: the network node is built with these, synchronously.
      text = readFileSync(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn(
          { path: this.path, err },
          "can't read the DHT peers file: joining through the entry points only",
        )
      }
      return []
    }
    const peers = parsePeers(text)
    if (peers === undefined) {
      this.logger.warn(
        { path: this.path },
        'the DHT peers file is not a list of peer addresses: ignored, and replaced at the next save',
      )
      return []
    }
    this.saved = JSON.stringify(peers)
    return peers
  }

  /** Writes `addresses` (the first {@link MAX_KNOWN_PEERS}) unless they are what the file holds; never throws. */
  save(addresses: readonly string[]): Promise<void> {
    const peers = addresses.slice(0, MAX_KNOWN_PEERS)
    // An empty list would forget good peers because of a moment alone.
    if (peers.length === 0) return this.writing
    const text = JSON.stringify(peers)
    if (text === this.saved) return this.writing
    this.saved = text
    this.writing = this.writing.then(() => this.write(peers))
    return this.writing
  }

  private async write(peers: readonly string[]): Promise<void> {
    const temporary = `${this.path}.${process.pid}.tmp`
    try {
      await mkdir(dirname(this.path), { recursive: true })
      await writeFile(temporary, `${JSON.stringify({ version: FORMAT_VERSION, peers }, null, 2)}\n`)
      await rename(temporary, this.path)
    } catch (err) {
      this.saved = ''
      this.logger.warn({ path: this.path, err }, "can't save the DHT peers file")
    }
  }
}

function parsePeers(text: string): string[] | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { version, peers } = value as { version?: unknown; peers?: unknown }
  if (version !== FORMAT_VERSION || !Array.isArray(peers)) return undefined
  if (!peers.every((peer) => typeof peer === 'string' && peer.length > 0 && peer.length <= MAX_ADDRESS_LENGTH)) {
    return undefined
  }
  return (peers as string[]).slice(0, MAX_KNOWN_PEERS)
}
