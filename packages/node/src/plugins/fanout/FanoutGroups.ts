import type { ReceivedMessage } from '@runnel/client'
import type { ApiError } from '../../api/ApiError.js'
import type { ApiSubscription } from '../../api/ApiGateway.js'
import { EncodedMessage } from './EncodedMessage.js'
import { ownAllocation, type FrameAllocator } from './frames.js'

/** A subscriber of a fan-out group: a socket, or anything else that takes encoded messages. */
export interface FanoutSink {
  /**
   * Takes a message; returns the bytes it sent (0: not sent). Must not throw, and must not wait (a slow sink sheds
   * itself, see `EgressWriter`).
   */
  deliver(encoded: EncodedMessage): number
  /** History that failed after the subscriber was accepted (only groups of one subscriber read history). */
  resendError(error: ApiError): void
}

/** Opens the group's one network subscription; its callbacks reach every member. */
export type OpenGroup = (
  onMessage: (message: ReceivedMessage) => void,
  onResendError: (error: ApiError) => void,
) => Promise<ApiSubscription>

interface Group {
  readonly sinks: Set<FanoutSink>
  readonly opened: Promise<ApiSubscription>
}

/**
 * Subscribers grouped by what they subscribed to (a stream and its
 * partitions): each group has one network subscription, so a message is
 * validated, decrypted and ordered once, encoded once per output format
 * ({@link EncodedMessage}), and handed to every member in one loop. A group
 * opens with its first member and closes when its last one leaves.
 *
 * @example
 * ```ts
 * const leave = await groups.join('0xabc…/sensors|all', sink, (onMessage, onResendError) =>
 *   gateway.subscribe('websocket', streamId, params, onMessage, onResendError),
 * )
 * // … when the socket closes:
 * leave()
 * ```
 */
export class FanoutGroups {
  private readonly groups = new Map<string, Group>()

  constructor(
    /** Called once per message with how many members took it, and the bytes sent to them (for the metrics). */
    private readonly onFanout: (copies: number, bytes: number) => void = () => {},
    /** Where each message's frames are built (the egress writer's shared blocks). */
    private readonly allocate: FrameAllocator = ownAllocation,
  ) {}

  /** Members over every group. */
  get size(): number {
    let members = 0
    for (const group of this.groups.values()) members += group.sinks.size
    return members
  }

  /**
   * Adds `sink` to the group `key`, opening the group with `open` if it has none. Resolves, once the group's
   * subscription is open, with the function that takes the sink out again; rejects (the sink left) if it can't open.
   */
  async join(key: string, sink: FanoutSink, open: OpenGroup): Promise<() => void> {
    let group = this.groups.get(key)
    if (group === undefined) {
      const sinks = new Set<FanoutSink>()
      const created: Group = {
        sinks,
        opened: open(
          (message) => this.fanOut(sinks, message),
          (error) => {
            for (const member of sinks) member.resendError(error)
          },
        ),
      }
      this.groups.set(key, created)
      // Forget a group that failed to open: the next subscriber tries afresh rather than inheriting the error.
      created.opened.catch(() => {
        if (this.groups.get(key) === created) this.groups.delete(key)
      })
      group = created
    }
    group.sinks.add(sink)
    const joined = group
    const leave = (): void => {
      if (!joined.sinks.delete(sink) || joined.sinks.size > 0) return
      if (this.groups.get(key) === joined) this.groups.delete(key)
      // Still opening: closed once open.
      void joined.opened.then(
        (subscription) => subscription.unsubscribe(),
        () => undefined,
      )
    }
    try {
      await joined.opened
    } catch (err) {
      leave()
      throw err
    }
    return leave
  }

  /** Ends every group. */
  closeAll(): void {
    for (const group of this.groups.values()) {
      group.sinks.clear()
      void group.opened.then(
        (subscription) => subscription.unsubscribe(),
        () => undefined,
      )
    }
    this.groups.clear()
  }

  private fanOut(sinks: ReadonlySet<FanoutSink>, message: ReceivedMessage): void {
    if (sinks.size === 0) return
    const encoded = new EncodedMessage(message, this.allocate)
    let copies = 0
    let bytes = 0
    for (const sink of sinks) {
      const sent = sink.deliver(encoded)
      if (sent > 0) {
        copies++
        bytes += sent
      }
    }
    this.onFanout(copies, bytes)
  }
}
