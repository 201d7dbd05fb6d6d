// What a relay's duplicate check costs per message: check, mark, and check a
// second copy (from another neighbour), over four chains, and what a window
// holds afterwards. Each message names its chain's previous one (as verified
// messages do), so a chain in order is one segment; BENCH_LINKED=0 drops the
// links (an unverified relay's case): one segment per ref, the window of
// 10,000 full, so every message also evicts one.
// BENCH_MESSAGES (default 2,000,000) and BENCH_WINDOW (default 10,000) change it.
import { DuplicateDetector, type MessageRefLike } from '../src/overlay/DuplicateDetector.js'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2_000_000)
const WINDOW = Number(process.env.BENCH_WINDOW ?? 10_000)
const LINKED = process.env.BENCH_LINKED !== '0'
const CHAINS = ['0xa', '0xb', '0xc', '0xd'].map((publisher) => `${publisher.padEnd(42, '0')}/chain`)
const base = Date.now()

/** Feeds `detector` one round of messages; returns the copies it caught. */
function round(detector: DuplicateDetector, index: number): number {
  const previous = new Map<string, MessageRefLike>()
  let duplicates = 0
  for (let i = 0; i < MESSAGES; i++) {
    const chain = CHAINS[i & 3]!
    const timestamp = base + index * MESSAGES + (i >> 2)
    const sequence = i & 1
    if (!detector.isDuplicate(chain, timestamp, sequence)) {
      detector.markSeen(chain, timestamp, sequence, LINKED ? previous.get(chain) : undefined)
      if (LINKED) previous.set(chain, { timestamp, sequenceNumber: sequence })
    }
    if (detector.isDuplicate(chain, timestamp, sequence)) duplicates++
  }
  return duplicates
}

const timed = new DuplicateDetector(WINDOW)
for (let index = 0; index < 3; index++) {
  const started = performance.now()
  const duplicates = round(timed, index)
  const micros = ((performance.now() - started) * 1000) / MESSAGES
  console.log(
    `round ${index + 1}: ${micros.toFixed(3)} µs per message (check, mark, check a copy); ${duplicates} copies caught`,
  )
}

const gc = (globalThis as { gc?: () => void }).gc
if (gc !== undefined) {
  // A second detector, the code already compiled: what it holds after a round (heap, and the segments' buffers).
  const used = (): number => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
  gc()
  const before = used()
  const measured = new DuplicateDetector(WINDOW)
  round(measured, 0)
  gc()
  const kib = (used() - before) / 1024 / CHAINS.length
  const shown = kib < 1 ? 'under 1 KiB' : `~${kib.toFixed(1)} KiB`
  console.log(`${LINKED ? 'linked' : 'unlinked'} refs: ${shown} per chain (${measured.chainCount} chains)`)
}
