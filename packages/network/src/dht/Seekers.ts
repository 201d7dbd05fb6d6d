import type { NodeDescriptor, NodeId } from '../identity.js'
import { keyToHex } from './keys.js'

/** Most seekers named in one answer (DhtFindRecordsResponse.seekers). */
export const MAX_SEEKERS_NAMED = 4

export interface SeekersSettings {
  /** How long an asker is named after it last asked. */
  readonly memoryMs: number
  /** Most seekers kept per key; the least recent go first. */
  readonly perKey: number
  /** Most keys with seekers kept; the least recently asked go first. */
  readonly keys: number
}

export const DEFAULT_SEEKERS_SETTINGS: SeekersSettings = { memoryMs: 30_000, perKey: 64, keys: 256 }

interface Seeker {
  readonly descriptor: NodeDescriptor
  readonly at: number
}

/**
 * Who asked this node for a key's records lately while seeking peers under
 * it: a rendezvous where records are missing. Nodes that join a stream part
 * at once all find no entry point yet (none has stored a record), but their
 * lookups for the key end at the same few nodes, and each is named there to
 * those asking after it.
 *
 * Only handshake-proven full nodes with addresses are kept (the caller
 * passes the connection's descriptor). Bounds: `keys` × `perKey` entries.
 */
export class Seekers {
  private readonly byKey = new Map<string, Map<NodeId, Seeker>>()

  constructor(
    private readonly random: () => number,
    private readonly settings: SeekersSettings = DEFAULT_SEEKERS_SETTINGS,
  ) {}

  /**
   * Up to {@link MAX_SEEKERS_NAMED} others who sought `key` lately, picked at
   * random so that not everyone is sent to the same few (none unless
   * `name`); then notes `asker` when it is seeking.
   */
  answer(key: Uint8Array, asker: NodeDescriptor, seeking: boolean, now: number, name = true): NodeDescriptor[] {
    const hex = keyToHex(key)
    const seekers = this.byKey.get(hex)
    const named: NodeDescriptor[] = []
    if (seekers !== undefined && name) {
      const live: NodeDescriptor[] = []
      for (const [nodeId, seeker] of seekers) {
        if (now - seeker.at > this.settings.memoryMs) seekers.delete(nodeId)
        else if (nodeId !== asker.nodeId) live.push(seeker.descriptor)
      }
      // A partial Fisher-Yates: the first MAX_SEEKERS_NAMED places get a random pick each.
      for (let index = 0; index < live.length && index < MAX_SEEKERS_NAMED; index++) {
        const pick = index + Math.floor(this.random() * (live.length - index))
        ;[live[index], live[pick]] = [live[pick]!, live[index]!]
        named.push(live[index]!)
      }
      if (seekers.size === 0) this.byKey.delete(hex)
    }
    if (seeking && asker.kind === 'full' && asker.addresses.length > 0) this.note(hex, asker, now)
    return named
  }

  private note(hex: string, asker: NodeDescriptor, now: number): void {
    let seekers = this.byKey.get(hex)
    if (seekers === undefined) {
      seekers = new Map()
      this.byKey.set(hex, seekers)
      if (this.byKey.size > this.settings.keys) this.byKey.delete(this.byKey.keys().next().value!)
    } else {
      // Most recently asked last, in both maps: the oldest go first when full.
      this.byKey.delete(hex)
      this.byKey.set(hex, seekers)
      seekers.delete(asker.nodeId)
    }
    seekers.set(asker.nodeId, { descriptor: asker, at: now })
    if (seekers.size > this.settings.perKey) seekers.delete(seekers.keys().next().value!)
  }
}
