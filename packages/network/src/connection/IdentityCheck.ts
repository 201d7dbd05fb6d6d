import type { Clock } from '@runnel/protocol'
import { NetworkError } from '../errors.js'
import type { NodeDescriptor, NodeId } from '../identity.js'
import { errorField, type Logger } from '../logger.js'

/** What an {@link IdentityCheck} needs of the connection manager. */
export interface IdentityCheckConnections {
  readonly localDescriptor: NodeDescriptor
  checkOwnId(address: string, signal?: AbortSignal): Promise<void>
  dialAddress(addresses: readonly string[]): string | undefined
}

export interface IdentityCheckComponents {
  readonly connections: IdentityCheckConnections
  readonly clock: Clock
  readonly logger: Logger
}

/** How long one dial to a claimed holder may take. */
const CHECK_TIMEOUT_MS = 5_000
/** Checks under way at once; further hints wait for the next refusal or lookup. */
const MAX_CHECKS_IN_FLIGHT = 4
/** Addresses already checked, so a stale entry repeated by many peers costs one dial. */
const MAX_CHECKED_REMEMBERED = 64

/** Counters of an {@link IdentityCheck}. */
export interface IdentityCheckMetrics {
  /** Hints that named this node's id at an address of another process. */
  hints: number
  /** Dials made to such addresses. */
  dials: number
  /** Dials another process with this node's key answered (the newer of the two stops: see `onIdentityInUse`). */
  answered: number
  /** Dials that found nothing there (a stale entry: a crash or restart), or another node. */
  stale: number
  /** Hints dropped: another node id, nothing dialable, already checked, or too many checks at once. */
  ignored: number
}

/**
 * Finds out, in trackerless mode, whether another running process uses this
 * node's key: no tracker sees both. Hints come from peers (a refusal naming
 * the connection that holds this id there), from DHT lookups (a contact with
 * this node's id) and from entry-point records under this node's id; a hint
 * is only believed once this node dialled the named address and the node
 * there proved this node's id with another instance id (the connection
 * manager then tells the newer of the two processes, `onIdentityInUse`). A
 * hint that leads nowhere is a stale entry (the same node restarted), and is
 * dropped.
 *
 * Bounded: at most {@link MAX_CHECKS_IN_FLIGHT} dials at once, each at most
 * {@link CHECK_TIMEOUT_MS}; {@link MAX_CHECKED_REMEMBERED} addresses remembered.
 *
 * @example
 * ```ts
 * const check = new IdentityCheck({ connections, clock, logger })
 * check.hint(refusal.holder)
 * ```
 */
export class IdentityCheck {
  readonly metrics: IdentityCheckMetrics = { hints: 0, dials: 0, answered: 0, stale: 0, ignored: 0 }
  private readonly checked = new Set<string>()
  private readonly inFlight = new Set<AbortController>()
  private stopped = false

  constructor(private readonly components: IdentityCheckComponents) {}

  /** `descriptor` is said to hold this node's id somewhere: dial it and see. */
  hint(descriptor: NodeDescriptor, from?: NodeId): void {
    const local = this.components.connections.localDescriptor
    const own = new Set(local.addresses)
    const elsewhere = descriptor.addresses.filter((address) => !own.has(address))
    // This very node (its own record, say): nothing to check.
    if (descriptor.nodeId === local.nodeId && descriptor.addresses.length > 0 && elsewhere.length === 0) return
    if (this.stopped || descriptor.nodeId !== local.nodeId) {
      this.metrics.ignored++
      return
    }
    const address = this.components.connections.dialAddress(elsewhere)
    if (address === undefined || this.checked.has(address) || this.inFlight.size >= MAX_CHECKS_IN_FLIGHT) {
      this.metrics.ignored++
      return
    }
    this.metrics.hints++
    this.remember(address)
    void this.dial(address, from)
  }

  stop(): void {
    this.stopped = true
    for (const controller of this.inFlight) controller.abort()
    this.inFlight.clear()
  }

  private async dial(address: string, from: NodeId | undefined): Promise<void> {
    const controller = new AbortController()
    const timer = this.components.clock.setTimeout(
      () => controller.abort(new NetworkError('TIMEOUT', 'identity check timed out')),
      CHECK_TIMEOUT_MS,
      { unref: true },
    )
    this.inFlight.add(controller)
    this.metrics.dials++
    try {
      await this.components.connections.checkOwnId(address, controller.signal)
      this.metrics.answered++
    } catch (err) {
      this.metrics.stale++
      this.components.logger.debug('a node said this node id is in use elsewhere; nothing there proves it', {
        address,
        from,
        error: errorField(err),
      })
    } finally {
      timer.cancel()
      this.inFlight.delete(controller)
    }
  }

  private remember(address: string): void {
    this.checked.add(address)
    if (this.checked.size > MAX_CHECKED_REMEMBERED) this.checked.delete(this.checked.values().next().value!)
  }
}
