import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { GroupKey } from '../encryption/GroupKey.js'
import type { GroupKeyStore } from '../encryption/KeyStore.js'
import { ClientError } from '../errors.js'

interface StoredKey {
  readonly publisherId: string
  readonly id: string
  /** Hex of the 32 key bytes. */
  readonly key: string
}

/**
 * Group keys in a JSON file (mode 0600): the node's own keys survive a
 * restart, so subscribers can still get the keys of what it published
 * before, and keys it obtained needn't be asked for again. Every change is
 * written to a temporary file and renamed over the old one, so a crash
 * leaves the old file or the new one, never half of one.
 *
 * @example
 * ```ts
 * const keyStore = new FileKeyStore('/var/lib/runnel/keys.json')
 * await keyStore.load()
 * const client = createRunnelClient(options, { keyStore })
 * ```
 */
export class FileKeyStore implements GroupKeyStore {
  private readonly keys = new Map<string, GroupKey>()
  private writing: Promise<void> = Promise.resolve()
  private loading: Promise<void> | undefined

  constructor(readonly path: string) {}

  /**
   * Reads the file (once; later calls share the first). `get` and `add` wait
   * for it; call it at start to fail early on a bad file.
   *
   * @throws {@link ClientError} `INVALID_ARGUMENT` when the file exists but isn't a key file.
   */
  load(): Promise<void> {
    this.loading ??= this.read()
    return this.loading
  }

  async get(publisherId: string, keyId: string): Promise<GroupKey | undefined> {
    await this.load()
    return this.keys.get(keyOf(publisherId, keyId))
  }

  async add(publisherId: string, key: GroupKey): Promise<void> {
    await this.load()
    const slot = keyOf(publisherId, key.id)
    if (this.keys.has(slot)) return
    this.keys.set(slot, key)
    // One write at a time, each with every key so far.
    // A failed write must not block the ones after it: each writes every key anyway.
    this.writing = this.writing.catch(() => undefined).then(() => this.save())
    await this.writing
  }

  private async read(): Promise<void> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new ClientError('INVALID_ARGUMENT', `can't read the key store ${this.path}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    try {
      for (const entry of JSON.parse(text) as StoredKey[]) {
        this.keys.set(keyOf(entry.publisherId, entry.id), new GroupKey(entry.id, Buffer.from(entry.key, 'hex')))
      }
    } catch (err) {
      throw new ClientError('INVALID_ARGUMENT', `${this.path} is not a Runnel key store: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }

  get size(): number {
    return this.keys.size
  }

  private async save(): Promise<void> {
    const entries: StoredKey[] = [...this.keys].map(([slot, key]) => ({
      publisherId: slot.slice(0, slot.indexOf('/')),
      id: key.id,
      key: Buffer.from(key.bytes).toString('hex'),
    }))
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 })
    const temporary = `${this.path}.${process.pid}.tmp`
    await writeFile(temporary, JSON.stringify(entries), { mode: 0o600 })
    await rename(temporary, this.path)
  }
}

function keyOf(publisherId: string, keyId: string): string {
  return `${publisherId.toLowerCase()}/${keyId}`
}
