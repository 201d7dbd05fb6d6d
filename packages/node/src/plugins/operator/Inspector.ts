import { NETWORK_PROTOCOL_VERSION, NetworkNode, type NetworkNodeOptions, type NodeDescriptor } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import {
  generatePrivateKey,
  sleep,
  toStreamPartId,
  type Clock,
  type StreamId,
  type StreamPartId,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import type { HeartbeatMetadata } from './heartbeatMetadata.js'

/** Stream parts of one sponsorship inspected at most (a stream may have many partitions). */
const MAX_INSPECTED_PARTS = 8

/** What a reviewer looks at, and how it judges. */
export interface InspectionRequest {
  readonly streamId: string
  readonly partitions: number
  /** The flagged operator's nodes (addresses, lowercase) and, where known, how to reach them. */
  readonly targetNodes: ReadonlyMap<string, HeartbeatMetadata | undefined>
}

export interface InspectorSettings {
  readonly windowMs: number
  readonly minMessages: number
  readonly kickBelowShare: number
}

/** What an inspection saw: the evidence behind a vote, logged with it. */
export interface InspectionEvidence {
  readonly streamParts: readonly StreamPartId[]
  readonly windowMs: number
  /** Distinct messages the stream parts carried in the window, as the probe saw them. */
  readonly messagesSeen: number
  /** Frames each of the flagged operator's nodes relayed to the probe (copies included); 0 for nodes never reached. */
  readonly relayedByTarget: Readonly<Record<string, number>>
  /** Frames the other nodes serving the probe relayed, for comparison. */
  readonly relayedByOthers: Readonly<Record<string, number>>
  /** Target nodes with no heartbeat address to reach them at. */
  readonly unreachable: readonly string[]
  readonly verdict: 'kick' | 'keep'
  /** Why, in words. */
  readonly reason: string
}

/**
 * Gathers evidence on whether a flagged operator's nodes relay a sponsorship's stream parts. A short-lived light
 * node (a fresh key: the inspected nodes can't tell it from any app) asks each of the target's nodes, at the address
 * of its heartbeat, to proxy each stream part, and takes the other proxies discovery finds. A proxy sends its light
 * clients every message of the part, so over the window it counts what each target node relayed against the
 * messages the part carried. The verdict is kick only on evidence: the parts carried at least `minMessages` and the
 * target's nodes together relayed less than `kickBelowShare` of them; too little traffic is no evidence (keep).
 */
export class Inspector {
  constructor(
    private readonly discovery: Pick<NetworkNodeOptions, 'discovery' | 'trackers' | 'entryPoints'>,
    private readonly settings: InspectorSettings,
    private readonly clock: Clock,
  ) {}

  async inspect(request: InspectionRequest, signal?: AbortSignal): Promise<InspectionEvidence> {
    const streamParts = Array.from({ length: Math.min(request.partitions, MAX_INSPECTED_PARTS) }, (_, partition) =>
      toStreamPartId(request.streamId as StreamId, partition),
    )
    const descriptors: NodeDescriptor[] = []
    const unreachable: string[] = []
    for (const [node, metadata] of request.targetNodes) {
      if (metadata === undefined || metadata.addresses.length === 0) unreachable.push(node)
      else
        descriptors.push({
          nodeId: metadata.nodeId as NodeDescriptor['nodeId'],
          kind: 'full',
          addresses: metadata.addresses,
          protocolVersion: NETWORK_PROTOCOL_VERSION,
        })
    }
    const probe = new NetworkNode(
      {
        transport: new WebSocketTransport({}),
        signer: createNativeSigner(generatePrivateKey()),
        verifier: nativeSignatureVerifier,
        clock: this.clock,
      },
      { ...this.discovery, kind: 'light', proxyCount: descriptors.length + 2, acceptProxies: false },
    )
    const tally = new Map<string, number>()
    let messagesSeen = 0
    await probe.start()
    try {
      for (const streamPartId of streamParts) {
        probe.observeSenders(streamPartId, (sender) => tally.set(sender, (tally.get(sender) ?? 0) + 1))
        probe.addMessageListener(streamPartId, () => messagesSeen++)
        // The target's nodes first, so they are asked before discovery's proxies fill the probe's slots.
        probe.requestPeers(streamPartId, descriptors)
        void probe.join(streamPartId).catch(() => undefined)
      }
      await sleep(this.clock, this.settings.windowMs, signal)
    } finally {
      await probe.stop()
    }
    const targets = new Set(request.targetNodes.keys())
    const relayedByTarget: Record<string, number> = {}
    const relayedByOthers: Record<string, number> = {}
    for (const node of targets) relayedByTarget[node] = tally.get(node) ?? 0
    for (const [node, frames] of tally) if (!targets.has(node)) relayedByOthers[node] = frames
    const relayed = Object.values(relayedByTarget).reduce((sum, frames) => sum + frames, 0)
    const { minMessages, kickBelowShare } = this.settings
    let verdict: 'kick' | 'keep'
    let reason: string
    if (messagesSeen < minMessages) {
      verdict = 'keep'
      reason = `the stream carried ${messagesSeen} messages in the window, fewer than ${minMessages}: no evidence either way`
    } else if (relayed < kickBelowShare * messagesSeen) {
      verdict = 'kick'
      reason = `the inspected operator's nodes relayed ${relayed} frames of ${messagesSeen} messages the stream carried (below ${kickBelowShare * 100}%)`
    } else {
      verdict = 'keep'
      reason = `the inspected operator's nodes relayed ${relayed} frames of ${messagesSeen} messages the stream carried`
    }
    return {
      streamParts,
      windowMs: this.settings.windowMs,
      messagesSeen,
      relayedByTarget,
      relayedByOthers,
      unreachable,
      verdict,
      reason,
    }
  }
}
