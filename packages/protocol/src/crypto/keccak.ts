import { keccak_256 } from '@noble/hashes/sha3.js'
import { createKeccak, type IHasher } from 'hash-wasm'

// keccak256 runs on every signature check (twice) and its pure-JS form costs
// ~10 µs for a typical payload, a fifth of a native signature recovery.
// hash-wasm's WebAssembly keccak takes ~1 µs but can only be instantiated
// asynchronously (browsers refuse synchronous compilation of larger modules),
// so hashing starts on @noble/hashes and switches once WASM is ready. Both
// compute the same function; only speed changes.
let wasmHasher: IHasher | undefined
const wasmReady: Promise<void> = createKeccak(256).then(
  (hasher) => {
    wasmHasher = hasher
  },
  () => {
    // No WebAssembly here (e.g. a locked-down CSP): stay on pure JS.
  },
)

/** Resolves once the fast WebAssembly keccak is in use (or known to be unavailable). */
export function whenHashingReady(): Promise<void> {
  return wasmReady
}

/** keccak256 over the concatenation of `parts`. */
export function keccak256(...parts: Uint8Array[]): Uint8Array {
  if (wasmHasher !== undefined) {
    wasmHasher.init()
    for (const part of parts) wasmHasher.update(part)
    return wasmHasher.digest('binary')
  }
  if (parts.length === 1) return keccak_256(parts[0]!)
  const hash = keccak_256.create()
  for (const part of parts) hash.update(part)
  return hash.digest()
}
