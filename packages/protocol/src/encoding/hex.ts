const HEX_CODES = Uint8Array.from('0123456789abcdef', (char) => char.charCodeAt(0))
const asciiDecoder = new TextDecoder()

/**
 * Lowercase hex of `parts` one after another, without a `0x` prefix, as one
 * flat string.
 *
 * Built with `+=` per byte (as most hex helpers are), a string past a dozen
 * characters is a chain of cons strings that V8 keeps until something
 * flattens it: a 97-byte key held that way took ~2 KiB instead of ~0.2 KiB.
 * Strings that are kept (map keys, ids) should come from here.
 *
 * @example
 * ```ts
 * bytesToHex(new Uint8Array([0, 171, 255])) // '00abff'
 * ```
 */
export function bytesToHex(...parts: Uint8Array[]): string {
  return hexWithPrefix('', parts)
}

/** `prefix` (ASCII) and the hex of `parts`, as one flat string. */
export function hexWithPrefix(prefix: string, parts: readonly Uint8Array[]): string {
  let length = prefix.length
  for (const part of parts) length += 2 * part.length
  const codes = new Uint8Array(length)
  let at = 0
  for (; at < prefix.length; at++) codes[at] = prefix.charCodeAt(at)
  for (const part of parts) {
    for (const byte of part) {
      codes[at++] = HEX_CODES[byte >> 4]!
      codes[at++] = HEX_CODES[byte & 15]!
    }
  }
  return asciiDecoder.decode(codes)
}
