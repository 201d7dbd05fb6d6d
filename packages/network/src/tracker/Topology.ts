import type { NodeDescriptor, NodeId } from '../identity.js'

export interface TopologyOptions {
  /** Neighbours each node aims for. */
  readonly targetDegree: number
  /** Never suggest a node that already reports this many neighbours. */
  readonly maxDegree: number
  /** Random source in [0, 1); injected so simulations are deterministic. */
  readonly random: () => number
}

interface Member {
  descriptor: NodeDescriptor
  neighbors: Set<NodeId>
}

/** Tells `node` to connect to `peers` in a stream part. */
export interface Instruction {
  readonly nodeId: NodeId
  readonly streamPartId: string
  readonly peers: NodeDescriptor[]
}

/**
 * A tracker's picture of every stream part it is responsible for, and its
 * decisions: whom a node should connect to, and how to rejoin an overlay that
 * has split. Pure state; the tracker server does the I/O.
 */
export class Topology {
  private readonly streamParts = new Map<string, Map<NodeId, Member>>()

  constructor(private readonly options: TopologyOptions) {}

  /**
   * Records a full node's report and returns the peers it should contact (none
   * when it wants none or no one is available).
   */
  reportStatus(
    descriptor: NodeDescriptor,
    streamPartId: string,
    neighbors: NodeId[],
    wanted: number,
  ): NodeDescriptor[] {
    let members = this.streamParts.get(streamPartId)
    if (members === undefined) {
      members = new Map()
      this.streamParts.set(streamPartId, members)
    }
    const member = members.get(descriptor.nodeId)
    const reported = new Set(neighbors.filter((id) => members.has(id)))
    if (member === undefined) {
      members.set(descriptor.nodeId, { descriptor, neighbors: reported })
    } else {
      member.descriptor = descriptor
      member.neighbors = reported
    }
    return wanted > 0 ? this.choosePeers(members, descriptor.nodeId, reported, wanted) : []
  }

  /** Peers for a light node: full members it may use as proxies. The light node isn't recorded. */
  proxiesFor(nodeId: NodeId, streamPartId: string, wanted: number): NodeDescriptor[] {
    const members = this.streamParts.get(streamPartId)
    if (members === undefined) return []
    return this.choosePeers(members, nodeId, new Set(), wanted)
  }

  leave(nodeId: NodeId, streamPartId: string): void {
    const members = this.streamParts.get(streamPartId)
    if (members === undefined) return
    members.delete(nodeId)
    for (const member of members.values()) member.neighbors.delete(nodeId)
    if (members.size === 0) this.streamParts.delete(streamPartId)
  }

  /** The node is gone (its tracker connection closed): forget it everywhere. Returns the stream parts it was in. */
  remove(nodeId: NodeId): string[] {
    const affected: string[] = []
    for (const [streamPartId, members] of this.streamParts) {
      if (members.has(nodeId)) {
        affected.push(streamPartId)
        this.leave(nodeId, streamPartId)
      }
    }
    return affected
  }

  members(streamPartId: string): NodeId[] {
    return [...(this.streamParts.get(streamPartId)?.keys() ?? [])]
  }

  streamPartIds(): string[] {
    return [...this.streamParts.keys()]
  }

  /**
   * If the reported graph of a stream part has split, instructions that join
   * each smaller component to the largest one.
   */
  repairPartitions(streamPartId: string): Instruction[] {
    const members = this.streamParts.get(streamPartId)
    if (members === undefined || members.size < 2) return []
    const components = connectedComponents(members)
    if (components.length < 2) return []
    components.sort((a, b) => b.length - a.length)
    const largest = components[0]!
    const instructions: Instruction[] = []
    for (const component of components.slice(1)) {
      const from = component[Math.floor(this.options.random() * component.length)]!
      const target = this.leastConnected(members, largest)
      if (target === undefined) continue
      instructions.push({ nodeId: from, streamPartId, peers: [target.descriptor] })
    }
    return instructions
  }

  private leastConnected(members: Map<NodeId, Member>, candidates: NodeId[]): Member | undefined {
    let best: Member | undefined
    for (const id of this.shuffled(candidates)) {
      const member = members.get(id)!
      if (best === undefined || member.neighbors.size < best.neighbors.size) best = member
    }
    return best
  }

  private choosePeers(
    members: Map<NodeId, Member>,
    requester: NodeId,
    exclude: Set<NodeId>,
    wanted: number,
  ): NodeDescriptor[] {
    const candidates: Member[] = []
    for (const [id, member] of members) {
      if (id !== requester && !exclude.has(id) && member.neighbors.size < this.options.maxDegree) {
        candidates.push(member)
      }
    }
    // Random order, then nodes below their target degree first: new nodes
    // fill the gaps that churn left, and the graph stays random.
    const shuffled = this.shuffled(candidates)
    const degree = (member: Member): number => Math.min(member.neighbors.size, this.options.targetDegree)
    shuffled.sort((a, b) => degree(a) - degree(b))
    return shuffled.slice(0, wanted).map((member) => member.descriptor)
  }

  private shuffled<T>(items: T[]): T[] {
    const copy = [...items]
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.options.random() * (i + 1))
      ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
    }
    return copy
  }
}

function connectedComponents(members: Map<NodeId, Member>): NodeId[][] {
  // Reports lag behind reality, so an edge counts if either end reports it.
  const adjacency = new Map<NodeId, Set<NodeId>>()
  for (const id of members.keys()) adjacency.set(id, new Set())
  for (const [id, member] of members) {
    for (const neighbor of member.neighbors) {
      adjacency.get(id)!.add(neighbor)
      adjacency.get(neighbor)?.add(id)
    }
  }
  const seen = new Set<NodeId>()
  const components: NodeId[][] = []
  for (const start of adjacency.keys()) {
    if (seen.has(start)) continue
    const component: NodeId[] = []
    const queue = [start]
    seen.add(start)
    while (queue.length > 0) {
      const id = queue.pop()!
      component.push(id)
      for (const next of adjacency.get(id)!) {
        if (!seen.has(next)) {
          seen.add(next)
          queue.push(next)
        }
      }
    }
    components.push(component)
  }
  return components
}
