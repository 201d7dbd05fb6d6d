import type { StreamMessage } from '@runnel/protocol'
import type { NodeId } from '../identity.js'

/** How a message reached this node. */
export interface DeliveryContext {
  /** The neighbour or proxy it came from; undefined for the node's own broadcasts. */
  readonly senderId: NodeId | undefined
}

/** A message the node dropped, and why. */
export interface InvalidMessageEvent {
  readonly message: StreamMessage
  readonly senderId: NodeId
  readonly reason: 'invalid-signature'
}

/** Receives a stream part's new messages, each once. */
export type MessageListener = (message: StreamMessage, context: DeliveryContext) => void
