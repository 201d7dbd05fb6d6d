import { GroupKey } from './GroupKey.js'

/**
 * Where a client keeps group keys: its own (as a publisher) and those it
 * obtained (as a subscriber), by publisher and key id. The default keeps
 * them in memory; the node daemon persists them.
 */
export interface GroupKeyStore {
  get(publisherId: string, keyId: string): Promise<GroupKey | undefined>
  add(publisherId: string, key: GroupKey): Promise<void>
}

/** Keys in memory, for the life of the client. */
export class MemoryKeyStore implements GroupKeyStore {
  private readonly keys = new Map<string, GroupKey>()

  get(publisherId: string, keyId: string): Promise<GroupKey | undefined> {
    return Promise.resolve(this.keys.get(`${publisherId.toLowerCase()}/${keyId}`))
  }

  add(publisherId: string, key: GroupKey): Promise<void> {
    this.keys.set(`${publisherId.toLowerCase()}/${key.id}`, key)
    return Promise.resolve()
  }
}

export { GroupKey }
