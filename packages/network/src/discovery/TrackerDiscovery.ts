import type { StreamPartId } from '@runnel/protocol'
import type { NodeDescriptor, NodeId } from '../identity.js'
import { TrackerClient, type TrackerClientComponents, type TrackerClientOptions } from '../tracker/TrackerClient.js'
import type { Discovery } from './Discovery.js'

/**
 * Discovery through trackers: each stream part's tracker (chosen by hashing
 * its id over the tracker list) hears the node's status and answers with
 * instructions, which `OverlayControl` carries out. A thin {@link Discovery}
 * face on {@link TrackerClient}; the DHT's messages and hooks are no-ops here.
 *
 * @example
 * ```ts
 * const discovery = new TrackerDiscovery(
 *   { connections, signer, clock, logger, statusOf: (id) => status(id), streamParts: () => joined.keys() },
 *   { trackers: ['ws://127.0.0.1:30300'], statusRetryMs: 2_000 },
 * )
 * discovery.start()
 * discovery.reportStatus(streamPartId)
 * ```
 */
export class TrackerDiscovery implements Discovery {
  readonly mode = 'tracker'
  readonly client: TrackerClient

  constructor(components: TrackerClientComponents, options: TrackerClientOptions) {
    this.client = new TrackerClient(components, options)
  }

  start(): void {
    this.client.start()
  }

  bootstrap(): Promise<void> {
    return Promise.resolve()
  }

  stop(): void {
    this.client.stop()
  }

  reportStatus(streamPartId: StreamPartId): void {
    this.client.reportStatus(streamPartId)
  }

  scheduleStatus(streamPartId: StreamPartId, delayMs?: number): void {
    this.client.scheduleStatus(streamPartId, delayMs)
  }

  reportLeave(streamPartId: StreamPartId): void {
    this.client.reportLeave(streamPartId)
  }

  isAuthority(peerId: NodeId): boolean {
    return this.client.isTracker(peerId)
  }

  isAuthorityFor(streamPartId: string, peerId: NodeId): boolean {
    return this.client.isTrackerFor(streamPartId, peerId)
  }

  handleAuthorityClosed(peerId: NodeId): void {
    this.client.handleTrackerClosed(peerId)
  }

  handleControl(): boolean {
    return false
  }

  handlePeerReady(): void {}

  handlePeerClosed(): void {}

  // The tracker places nodes: a refusal names no one, as before.
  alternativesFor(): NodeDescriptor[] {
    return []
  }

  handoverFor(): undefined {
    return undefined
  }

  takeAnswer(): void {}

  takeUnreachable(): void {}
}
