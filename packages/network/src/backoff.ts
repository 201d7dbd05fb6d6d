/**
 * Delay before reconnection attempt `attempt` (0 = the first after the connection closed): "full jitter", uniform in
 * `[0, min(maxMs, baseMs × 2^attempt))`. Every node of a stream part loses its tracker at the same moment when the
 * tracker restarts (and nodes started while every DHT entry point is down retry them together); spread over the
 * window, their attempts arrive at about N / window per second instead of all in one instant, and each failed attempt
 * doubles the window, so an address that stays down sees fewer and fewer.
 *
 * @example
 * ```ts
 * reconnectDelayMs(0, 2_000, 30_000, Math.random) // somewhere in [0, 2 s)
 * reconnectDelayMs(3, 2_000, 30_000, Math.random) // somewhere in [0, 16 s)
 * ```
 */
export function reconnectDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const window = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * window)
}
