/**
 * A small deterministic PRNG (mulberry32): the same overlay lays out the same way each time, and the bench builds the
 * same fixtures every run. No imports, so Node.js code (the bench) can use it as well as the page.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let value = state
    value = Math.imul(value ^ (value >>> 15), value | 1)
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61)
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296
  }
}
