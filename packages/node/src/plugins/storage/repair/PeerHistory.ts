import { MAX_SEQUENCE_NUMBER, MESSAGE_FRAMES_CONTENT_TYPE, MessageFrameReader } from '@runnel/protocol'
import { NodeError } from '../../../errors.js'
import { MAX_DIGEST_BUCKETS, type BucketDigest } from '../../../storage/index.js'
import type { ExpectedRange } from './FetchedMessageCheck.js'

/** A digests answer is a few numbers per bucket: a larger body is not a storage node's. */
const MAX_DIGESTS_BODY_BYTES = 64 + MAX_DIGEST_BUCKETS * 64

/** The peer could not be asked, or answered something that is not a storage node's answer. */
export function peerUnavailable(url: string, reason: string, cause?: unknown): NodeError {
  return new NodeError('STORAGE_UNAVAILABLE', `storage repair: ${new URL(url).origin} ${reason}`, { cause })
}

function base(url: string, streamId: string, partition: number): string {
  return `${url.replace(/\/+$/, '')}/streams/${encodeURIComponent(streamId)}/data/partitions/${partition}`
}

/**
 * The history API of another storage node, as repair uses it: ranges as
 * binary frames, and bucket digests. Everything a peer sends is untrusted:
 * frames are bounded in size (the reader refuses larger ones), a digests body
 * in bytes and shape, and every request in time (`signal`). The frames are
 * returned as bytes; the caller checks each message before storing it.
 */
export const PeerHistory = {
  /** Yields the encoded messages of `range` as the peer sends them; stops (and cancels the download) after `limit`. */
  async *range(url: string, range: ExpectedRange, limit: number, signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const params = new URLSearchParams({
      format: 'binary',
      fromTimestamp: String(range.from.timestamp),
      fromSequenceNumber: String(range.from.sequenceNumber),
      toTimestamp: String(range.to.timestamp),
      toSequenceNumber: String(Math.min(range.to.sequenceNumber, MAX_SEQUENCE_NUMBER)),
    })
    if (range.publisherId !== undefined) params.set('publisherId', range.publisherId)
    if (range.msgChainId !== undefined) params.set('msgChainId', range.msgChainId)
    const response = await request(
      `${base(url, range.streamId, range.partition)}/range?${params.toString()}`,
      MESSAGE_FRAMES_CONTENT_TYPE,
      signal,
    )
    const reader = new MessageFrameReader()
    const body = response.body!.getReader()
    let count = 0
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>
        try {
          chunk = await body.read()
        } catch (err) {
          throw peerUnavailable(url, `broke off its history response: ${(err as Error).message}`, err)
        }
        if (chunk.done) break
        let frames: Uint8Array[]
        try {
          frames = reader.push(chunk.value)
        } catch (err) {
          throw peerUnavailable(url, `sent a malformed frame: ${(err as Error).message}`, err)
        }
        for (const frame of frames) {
          yield frame
          if (++count >= limit) return
        }
      }
      try {
        reader.end()
      } catch (err) {
        throw peerUnavailable(url, `ended its history response inside a frame`, err)
      }
    } finally {
      await body.cancel().catch(() => {})
    }
  },

  /** The peer's digests of a stream part, checked: whole buckets of `bucketMs` inside the range, in order, sane counts. */
  async digests(
    url: string,
    streamId: string,
    partition: number,
    window: { readonly from: number; readonly to: number; readonly bucketMs: number },
    signal: AbortSignal,
  ): Promise<BucketDigest[]> {
    const params = new URLSearchParams({
      fromTimestamp: String(window.from),
      toTimestamp: String(window.to),
      bucketMs: String(window.bucketMs),
    })
    const response = await request(
      `${base(url, streamId, partition)}/digests?${params.toString()}`,
      'application/json',
      signal,
    )
    const text = await readText(url, response, MAX_DIGESTS_BODY_BYTES)
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      throw peerUnavailable(url, 'answered digests that are not JSON', err)
    }
    const buckets = (body as { buckets?: unknown } | null)?.buckets
    if (!Array.isArray(buckets) || (body as { bucketMs?: unknown }).bucketMs !== window.bucketMs) {
      throw peerUnavailable(url, 'answered digests of another shape or bucket width')
    }
    const digests: BucketDigest[] = []
    let previous = window.from - window.bucketMs
    for (const bucket of buckets as unknown[]) {
      const [start, count, digest] = Array.isArray(bucket) ? (bucket as unknown[]) : []
      const valid =
        Number.isSafeInteger(start) &&
        (start as number) > previous &&
        (start as number) < window.to &&
        ((start as number) - window.from) % window.bucketMs === 0 &&
        Number.isSafeInteger(count) &&
        (count as number) > 0 &&
        Number.isSafeInteger(digest) &&
        (digest as number) >= 0 &&
        (digest as number) < 2 ** 32
      if (!valid) throw peerUnavailable(url, `answered an invalid digest bucket ${JSON.stringify(bucket)}`)
      previous = start as number
      digests.push({ start: start as number, count: count as number, digest: digest as number })
    }
    return digests
  },
}

async function request(url: string, accept: string, signal: AbortSignal): Promise<Response> {
  let response: Response
  try {
    response = await fetch(url, { headers: { accept }, signal })
  } catch (err) {
    throw peerUnavailable(url, `can't be reached: ${(err as Error).message}`, err)
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel().catch(() => {})
    throw peerUnavailable(url, `refused the request: HTTP ${response.status}`)
  }
  return response
}

async function readText(url: string, response: Response, maxBytes: number): Promise<string> {
  const reader = response.body!.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBytes) throw peerUnavailable(url, `answered more than ${maxBytes} bytes of digests`)
      chunks.push(value)
    }
  } catch (err) {
    if (err instanceof NodeError) throw err
    throw peerUnavailable(url, `broke off its digests response: ${(err as Error).message}`, err)
  } finally {
    await reader.cancel().catch(() => {})
  }
  return Buffer.concat(chunks).toString('utf8')
}
