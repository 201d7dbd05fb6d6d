import {
  ChainError,
  RunnelIncentives,
  operatorAbi,
  toChainError,
  voteKickAbi,
  type IncentiveAddresses,
} from '@runnel/chain'
import { createPublicClient, createWalletClient, getAddress, http, type Address, type PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { decodeHeartbeat, type HeartbeatMetadata } from './heartbeatMetadata.js'

/** VoteKick's `Ballot.Pending`: picked, not voted yet. */
const BALLOT_PENDING = 1
/** Most heartbeat events read per look-up; the newest per node win. */
const MAX_HEARTBEAT_EVENTS = 10_000

/**
 * The chain as the operator plugin sees it: the incentive bindings with the node's wallet, plus the few raw reads
 * they don't wrap (an operator's node list, heartbeat events, the chain's time).
 */
export class OperatorChain {
  readonly incentives: RunnelIncentives
  readonly publicClient: PublicClient
  readonly account: Address
  private flagStakeRead: Promise<bigint> | undefined

  constructor(
    rpcUrl: string,
    privateKey: string,
    private readonly addresses: IncentiveAddresses,
  ) {
    const account = privateKeyToAccount(privateKey as `0x${string}`)
    this.account = account.address
    const transport = http(rpcUrl, { retryCount: 1, timeout: 15_000 })
    this.publicClient = createPublicClient({ transport })
    const walletClient = createWalletClient({ account, transport })
    this.incentives = new RunnelIncentives({ publicClient: this.publicClient, walletClient, addresses })
  }

  /** The addresses an operator's owner listed with `setNodes`. */
  async nodesOf(operator: Address): Promise<Address[]> {
    const nodes = await this.read(() =>
      this.publicClient.readContract({ address: operator, abi: operatorAbi, functionName: 'nodes' }),
    )
    return nodes.map((node) => getAddress(node))
  }

  /** The latest block's number and timestamp (seconds): heartbeats are judged on the chain's clock. */
  async head(): Promise<{ number: bigint; timestamp: number }> {
    const block = await this.read(() => this.publicClient.getBlock())
    return { number: block.number, timestamp: Number(block.timestamp) }
  }

  /** Each node's newest well-formed heartbeat metadata from `fromBlock` on (by node address, lowercase). */
  async heartbeats(operator: Address, fromBlock: bigint): Promise<Map<string, HeartbeatMetadata>> {
    const logs = await this.read(() =>
      this.publicClient.getContractEvents({ address: operator, abi: operatorAbi, eventName: 'Heartbeat', fromBlock }),
    )
    const latest = new Map<string, HeartbeatMetadata>()
    for (const log of logs.slice(-MAX_HEARTBEAT_EVENTS)) {
      const node = log.args.node?.toLowerCase()
      const metadata = decodeHeartbeat(log.args.metadata ?? '')
      // A node may only speak for itself: metadata naming another node id is ignored.
      if (node !== undefined && metadata !== undefined && metadata.nodeId === node) latest.set(node, metadata)
    }
    return latest
  }

  /** The stake a flag locks of its flagger's stake until the vote (VoteKick's `flagStake`; fixed at deployment). */
  async flagStake(): Promise<bigint> {
    this.flagStakeRead ??= this.read(() =>
      this.publicClient.readContract({ address: this.addresses.voteKick, abi: voteKickAbi, functionName: 'flagStake' }),
    ).catch((err: unknown) => {
      this.flagStakeRead = undefined
      throw err
    })
    return this.flagStakeRead
  }

  /** Whether `reviewer` was picked for a flag and has yet to vote. */
  async awaitsVote(flagId: number, reviewer: Address): Promise<boolean> {
    const ballot = await this.read(() =>
      this.publicClient.readContract({
        address: this.addresses.voteKick,
        abi: voteKickAbi,
        functionName: 'ballotOf',
        args: [BigInt(flagId), reviewer],
      }),
    )
    return ballot === BALLOT_PENDING
  }

  private async read<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (err) {
      throw err instanceof ChainError ? err : toChainError(err)
    }
  }
}
