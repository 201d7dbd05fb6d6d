import type { NodeId } from '../identity.js'

/**
 * How many members of each stream part a tracker admitted from each network
 * group (a /24 or /48, see `subnetGroup`), so that many identities from one
 * address range can't make up a stream part's overlay and surround its
 * honest nodes (Sybil). Members in no group (loopback, private and plain
 * simulator addresses) are not counted. Pure state; `TrackerServer` asks it
 * before a new member enters the topology.
 *
 * Bounds: one entry per counted member per stream part.
 */
export class SubnetQuota {
  private readonly parts = new Map<string, { byNode: Map<NodeId, string>; byGroup: Map<string, number> }>()

  constructor(private readonly maxPerGroup: number) {}

  /**
   * Whether `nodeId` may be a member of `streamPartId` coming from `group`:
   * yes when it is one already or there is room, and then it is counted.
   */
  admit(streamPartId: string, nodeId: NodeId, group: string | undefined): boolean {
    if (group === undefined) return true
    let part = this.parts.get(streamPartId)
    if (part?.byNode.has(nodeId) === true) return true
    const count = part?.byGroup.get(group) ?? 0
    if (count >= this.maxPerGroup) return false
    if (part === undefined) {
      part = { byNode: new Map(), byGroup: new Map() }
      this.parts.set(streamPartId, part)
    }
    part.byNode.set(nodeId, group)
    part.byGroup.set(group, count + 1)
    return true
  }

  /** `nodeId` left `streamPartId` (or every stream part when undefined). */
  release(nodeId: NodeId, streamPartId?: string): void {
    const ids = streamPartId === undefined ? [...this.parts.keys()] : [streamPartId]
    for (const id of ids) {
      const part = this.parts.get(id)
      const group = part?.byNode.get(nodeId)
      if (part === undefined || group === undefined) continue
      part.byNode.delete(nodeId)
      const count = (part.byGroup.get(group) ?? 1) - 1
      if (count > 0) part.byGroup.set(group, count)
      else part.byGroup.delete(group)
      if (part.byNode.size === 0) this.parts.delete(id)
    }
  }
}
