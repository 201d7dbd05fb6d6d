import { timingSafeEqual } from 'node:crypto'
import { NodeError } from '../errors.js'

/**
 * Checks API keys. With no keys configured every request passes; with keys,
 * each request must carry one of them (compared in constant time).
 */
export class ApiKeyGuard {
  private readonly keys: Buffer[]

  constructor(keys: readonly string[] | undefined) {
    this.keys = (keys ?? []).map((key) => Buffer.from(key, 'utf8'))
  }

  get required(): boolean {
    return this.keys.length > 0
  }

  isValid(key: string | Uint8Array | undefined): boolean {
    if (!this.required) return true
    if (key === undefined) return false
    const given = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key)
    let valid = false
    // Compare with every key, so timing reveals neither which key nor how much of it matched.
    for (const expected of this.keys) {
      if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true
    }
    return valid
  }

  /** @throws {@link NodeError} `UNAUTHORIZED`, saying whether the key was missing or wrong. */
  check(key: string | Uint8Array | undefined, how: string): void {
    if (this.isValid(key)) return
    throw new NodeError(
      'UNAUTHORIZED',
      key === undefined || key.length === 0 ? `this node requires an API key: ${how}` : 'the API key is not valid',
    )
  }
}

/** Reads a key from `Authorization: Bearer <key>` or the `apiKey` query parameter. */
export function apiKeyFromRequest(authorization: string | undefined, query: URLSearchParams): string | undefined {
  const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization)
  return match?.[1] ?? query.get('apiKey') ?? undefined
}

export const API_KEY_HINT = "send 'Authorization: Bearer <key>' or '?apiKey=<key>'"
