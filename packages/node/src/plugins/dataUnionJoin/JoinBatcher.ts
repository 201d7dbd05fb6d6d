import type { Address, Hex } from 'viem'
import { NodeError } from '../../errors.js'

/** The most members one `addMembers` transaction takes (the contract's batch limit). */
const MAX_BATCH = 100

interface Waiting {
  readonly member: Address
  resolve(hash: Hex): void
  reject(err: unknown): void
}

/**
 * Joins members in as few transactions as it can: the first join of a union is sent at once, and the joins that arrive
 * while a union's transaction is on its way go together in the next one. A batch the chain refuses (one of its
 * members joined meanwhile) is sent again member by member, so one refusal fails only its own request.
 */
export class JoinBatcher {
  private readonly waiting = new Map<Address, Waiting[]>()
  private readonly sending = new Set<Address>()

  constructor(private readonly send: (dataUnion: Address, members: readonly Address[]) => Promise<Hex>) {}

  /** Resolves with the hash of the transaction that added the member. */
  add(dataUnion: Address, member: Address): Promise<Hex> {
    return new Promise<Hex>((resolve, reject) => {
      const queue = this.waiting.get(dataUnion) ?? []
      if (queue.some((each) => each.member === member)) {
        reject(new NodeError('CONFLICT', `${member} is joining already`))
        return
      }
      queue.push({ member, resolve, reject })
      this.waiting.set(dataUnion, queue)
      if (!this.sending.has(dataUnion)) void this.drain(dataUnion)
    })
  }

  private async drain(dataUnion: Address): Promise<void> {
    this.sending.add(dataUnion)
    try {
      for (;;) {
        const queue = this.waiting.get(dataUnion) ?? []
        if (queue.length === 0) break
        const batch = queue.splice(0, MAX_BATCH)
        await this.sendBatch(dataUnion, batch)
      }
    } finally {
      this.waiting.delete(dataUnion)
      this.sending.delete(dataUnion)
    }
  }

  private async sendBatch(dataUnion: Address, batch: readonly Waiting[]): Promise<void> {
    try {
      const hash = await this.send(
        dataUnion,
        batch.map((each) => each.member),
      )
      for (const each of batch) each.resolve(hash)
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err)
        return
      }
      for (const each of batch) await this.sendBatch(dataUnion, [each])
    }
  }
}
