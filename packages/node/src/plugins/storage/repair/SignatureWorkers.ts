import { Worker } from 'node:worker_threads'
import { NodeError } from '../../../errors.js'
import type { VerifyRequest, VerifyResponse } from './signatureWorker.js'

/** Run from the sources (tsx) or from the build: the worker file has the same extension as this one. */
const FROM_SOURCES = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(`./signatureWorker${FROM_SOURCES ? '.ts' : '.js'}`, import.meta.url)

/** From the sources (tests, benches), the worker registers tsx's loader first: loaders don't carry over to workers. */
function createWorker(): Worker {
  if (!FROM_SOURCES) return new Worker(WORKER_URL)
  const tsx = import.meta.resolve('tsx/esm/api')
  return new Worker(
    `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}) })`,
    { eval: true },
  )
}

interface Pending {
  readonly resolve: (valid: Uint8Array) => void
  readonly reject: (err: unknown) => void
}

interface PooledWorker {
  readonly worker: Worker
  readonly pending: Map<number, Pending>
}

/**
 * Signature checks of encoded messages on worker threads: libsecp256k1's
 * public-key recovery (~50 µs a message) is what bounds repair, and it
 * parallelizes. A batch is split evenly over the workers; each piece travels
 * as one packed buffer. Workers start with {@link SignatureWorkers.start} (or
 * at the first batch) and are unref'd: they never keep the process alive.
 *
 * @example
 * ```ts
 * const workers = new SignatureWorkers(2)
 * const valid = await workers.verify(frames) // one boolean per frame
 * await workers.close()
 * ```
 */
export class SignatureWorkers {
  readonly #workers: PooledWorker[] = []
  #nextId = 0
  #closed = false

  constructor(readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new NodeError('INVALID_CONFIG', `storage repair: workers must be a positive integer, got ${String(size)}`)
    }
  }

  /** Starts the workers now rather than at the first batch (loading one takes a moment). */
  start(): void {
    if (!this.#closed) this.#start()
  }

  /** Whether each encoded message decodes and carries its publisher's valid signature. */
  async verify(frames: readonly Uint8Array[]): Promise<boolean[]> {
    if (this.#closed) throw new NodeError('STORAGE_UNAVAILABLE', 'storage repair: the signature workers are closed')
    if (frames.length === 0) return []
    this.#start()
    const pieces = Math.min(this.#workers.length, Math.ceil(frames.length / 64))
    const per = Math.ceil(frames.length / pieces)
    const results = await Promise.all(
      Array.from({ length: pieces }, (_, k) => this.#send(this.#workers[k]!, frames.slice(k * per, (k + 1) * per))),
    )
    const valid: boolean[] = []
    for (const piece of results) for (const bit of piece) valid.push(bit === 1)
    return valid
  }

  async close(): Promise<void> {
    this.#closed = true
    const workers = this.#workers.splice(0)
    await Promise.all(workers.map(({ worker }) => worker.terminate()))
  }

  #start(): void {
    while (this.#workers.length < this.size) {
      const worker = createWorker()
      worker.unref()
      const pooled: PooledWorker = { worker, pending: new Map() }
      worker.on('message', (response: VerifyResponse) => {
        const pending = pooled.pending.get(response.id)
        pooled.pending.delete(response.id)
        pending?.resolve(response.valid)
      })
      const fail = (err: unknown): void => {
        for (const pending of pooled.pending.values()) pending.reject(err)
        pooled.pending.clear()
        // A worker that died is replaced at the next batch.
        const index = this.#workers.indexOf(pooled)
        if (index !== -1) this.#workers.splice(index, 1)
      }
      worker.on('error', fail)
      worker.on('exit', (code) =>
        fail(new NodeError('INTERNAL', `storage repair: a signature worker exited (${code})`)),
      )
      this.#workers.push(pooled)
    }
  }

  #send(pooled: PooledWorker, frames: readonly Uint8Array[]): Promise<Uint8Array> {
    let size = 0
    for (const frame of frames) size += frame.byteLength
    const bytes = new Uint8Array(size)
    const ends = new Uint32Array(frames.length)
    let offset = 0
    for (let i = 0; i < frames.length; i++) {
      bytes.set(frames[i]!, offset)
      offset += frames[i]!.byteLength
      ends[i] = offset
    }
    const id = this.#nextId++
    const request: VerifyRequest = { id, bytes, ends }
    return new Promise<Uint8Array>((resolve, reject) => {
      pooled.pending.set(id, { resolve, reject })
      pooled.worker.postMessage(request, [bytes.buffer, ends.buffer])
    })
  }
}
