// What a relay's duplicate check costs per message: check, mark, and check a
// second copy (from another neighbour), over four chains, with the default
// window of 10,000 refs per chain full, so every message also evicts one.
// BENCH_MESSAGES (default 2,000,000) and BENCH_WINDOW (default 10,000) change it.
import { DuplicateDetector } from '../src/overlay/DuplicateDetector.js'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2_000_000)
const WINDOW = Number(process.env.BENCH_WINDOW ?? 10_000)
const CHAINS = ['0xa', '0xb', '0xc', '0xd'].map((publisher) => `${publisher.padEnd(42, '0')}/chain`)

const detector = new DuplicateDetector(WINDOW)
const base = Date.now()
for (let round = 0; round < 3; round++) {
  const started = performance.now()
  let duplicates = 0
  for (let i = 0; i < MESSAGES; i++) {
    const chain = CHAINS[i & 3]!
    const timestamp = base + round * MESSAGES + (i >> 2)
    const sequence = i & 1
    if (!detector.isDuplicate(chain, timestamp, sequence)) detector.markSeen(chain, timestamp, sequence)
    if (detector.isDuplicate(chain, timestamp, sequence)) duplicates++
  }
  const micros = ((performance.now() - started) * 1000) / MESSAGES
  console.log(
    `round ${round + 1}: ${micros.toFixed(3)} µs per message (check, mark, check a copy); ${duplicates} copies caught`,
  )
}
