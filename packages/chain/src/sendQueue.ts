import type { Address } from 'viem'

const MAX_ATTEMPTS = 10
const RETRY_BACKOFF_MS = 50
/**
 * How nodes say the nonce is used already by another transaction: geth, anvil, hardhat (EDR), besu, nethermind.
 * Not "already known": that is this very transaction, already in the pool (a transport retried the send), and
 * sending it again with the next nonce would make the write twice.
 */
const NONCE_TAKEN =
  /nonce too low|nonce provided for the transaction( \(\d+\))? is lower|replacement transaction underpriced|nonce has already been used/i

/** True when `err`, or any error in its cause chain, says the nonce was taken. */
function isNonceTaken(err: unknown): boolean {
  let cause: unknown = err
  for (let depth = 0; typeof cause === 'object' && cause !== null && depth < 10; depth++) {
    const { message, details } = cause as { message?: unknown; details?: unknown }
    if (
      (typeof message === 'string' && NONCE_TAKEN.test(message)) ||
      (typeof details === 'string' && NONCE_TAKEN.test(details))
    ) {
      return true
    }
    cause = (cause as { cause?: unknown }).cause
  }
  return false
}

/** The last send queued per account (lowercase address); removed once the queue drains. */
const tails = new Map<string, Promise<void>>()

/**
 * Runs `send` once every earlier send of the same account in this process has
 * finished, so each transaction takes its nonce from the chain's pending count
 * after the previous one is in. Sent concurrently, they would all read the same
 * count and all but one be refused ("nonce too low"). Only the send waits its
 * turn: simulations before it and receipts after it run in parallel.
 *
 * Keyed by address rather than by client, so two clients with one key in a
 * process don't race either; sends to different chains from one address only
 * queue, which costs a round trip, never a wrong nonce.
 *
 * @example
 * ```ts
 * const hash = await sendInTurn(wallet.account.address, () => wallet.writeContract(request))
 * ```
 */
export async function sendInTurn<T>(account: Address, send: () => Promise<T>): Promise<T> {
  const key = account.toLowerCase()
  const previous = tails.get(key)
  let release!: () => void
  const done = new Promise<void>((resolve) => (release = resolve))
  const tail = previous === undefined ? done : previous.then(() => done)
  tails.set(key, tail)
  try {
    await previous
    for (let attempt = 1; ; attempt++) {
      try {
        return await send()
      } catch (err) {
        // Another process sending with the same key (a CLI beside the daemon, say) took the nonce meanwhile.
        if (attempt >= MAX_ATTEMPTS || !isNonceTaken(err)) throw err
        // Jittered and growing, so two senders that collided don't collide again on every try.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * RETRY_BACKOFF_MS * attempt))
      }
    }
  } finally {
    release()
    if (tails.get(key) === tail) tails.delete(key)
  }
}
