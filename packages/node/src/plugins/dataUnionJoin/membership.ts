import { dataUnionAbi, toChainError, type MemberStatus, type RunnelMarket } from '@runnel/chain'
import type { Address, Hex, PublicClient } from 'viem'

/** What the join server needs of the chain: a member's status, and adding or parting members as its key. */
export interface DataUnionMembership {
  /** The account the server's transactions come from (it must be a join agent of each union). */
  readonly account: Address
  isJoinAgent(dataUnion: Address): Promise<boolean>
  memberStatus(dataUnion: Address, member: Address): Promise<MemberStatus>
  /** Adds the members in one transaction; resolves with its hash. */
  addMembers(dataUnion: Address, members: readonly Address[]): Promise<Hex>
  /** Parts a member; resolves with the transaction's hash. */
  partMember(dataUnion: Address, member: Address): Promise<Hex>
}

/**
 * {@link DataUnionMembership} over the marketplace bindings, which send in the key's turn (so the node's other
 * transactions get their own nonces). The bindings answer no hash: it is read from the event the write emitted.
 */
export class MarketMembership implements DataUnionMembership {
  constructor(
    private readonly market: RunnelMarket,
    private readonly publicClient: PublicClient,
  ) {}

  get account(): Address {
    return this.market.account
  }

  isJoinAgent(dataUnion: Address): Promise<boolean> {
    return this.market.isJoinAgent(dataUnion, this.market.account)
  }

  async memberStatus(dataUnion: Address, member: Address): Promise<MemberStatus> {
    return (await this.market.memberInfo(dataUnion, member)).status
  }

  async addMembers(dataUnion: Address, members: readonly Address[]): Promise<Hex> {
    const fromBlock = await this.blockNumber()
    await this.market.addMembers(dataUnion, members)
    return this.lastHash(dataUnion, 'MemberJoined', members, fromBlock)
  }

  async partMember(dataUnion: Address, member: Address): Promise<Hex> {
    const fromBlock = await this.blockNumber()
    await this.market.partMember(dataUnion, member)
    return this.lastHash(dataUnion, 'MemberParted', [member], fromBlock)
  }

  private async blockNumber(): Promise<bigint> {
    try {
      return await this.publicClient.getBlockNumber({ cacheTime: 0 })
    } catch (err) {
      throw toChainError(err)
    }
  }

  private async lastHash(
    dataUnion: Address,
    eventName: 'MemberJoined' | 'MemberParted',
    members: readonly Address[],
    fromBlock: bigint,
  ): Promise<Hex> {
    try {
      const logs = await this.publicClient.getContractEvents({
        address: dataUnion,
        abi: dataUnionAbi,
        eventName,
        args: { member: [...members] },
        fromBlock,
      })
      const hash = logs.at(-1)?.transactionHash
      if (hash === undefined || hash === null) throw new Error(`no ${eventName} event after the write`)
      return hash
    } catch (err) {
      throw toChainError(err)
    }
  }
}
