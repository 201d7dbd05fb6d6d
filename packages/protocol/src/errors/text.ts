// C0 controls, DEL and the C1 controls (U+009B is a one-character ANSI escape), line and paragraph separators, and
// the bidirectional marks and overrides that reorder text on a terminal or in a log viewer.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * Replaces every control character with its `\uXXXX` escape, so that text
 * built from untrusted input can be shown, logged or sent back to a client
 * without acting on whoever reads it (a NUL, an ANSI escape sequence, a
 * right-to-left override).
 *
 * @example
 * ```ts
 * escapeControlCharacters('a\u0000b\u001b[2J') // 'a\\u0000b\\u001b[2J'
 * ```
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * Short, log-safe rendering of an untrusted value for error messages: a string
 * is quoted, cut to 80 characters, and its control characters escaped (see
 * {@link escapeControlCharacters}).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return escapeControlCharacters(JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value))
  }
  if (value instanceof Uint8Array) {
    return `${value.length} bytes`
  }
  return String(value)
}
