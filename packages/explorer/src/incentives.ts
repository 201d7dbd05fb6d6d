import type { RunnelClient } from '@runnel/client'
import { formatEther } from 'viem'
import type { IncentivesOverview, StakeSummary } from './api.js'

type Stake = Awaited<ReturnType<RunnelClient['incentives']['stakesOn']>>[number]

/** Sponsorships (with who is staked on each) and operators, read from the incentive contracts now. */
export async function readIncentives(client: RunnelClient): Promise<IncentivesOverview> {
  const incentives = client.incentives
  const [sponsorships, operatorAddresses] = await Promise.all([
    incentives.listSponsorships(),
    incentives.listOperators(),
  ])
  const [stakes, operators] = await Promise.all([
    Promise.all(sponsorships.map((sponsorship) => incentives.stakesOn(sponsorship.id))),
    Promise.all(operatorAddresses.map((address) => incentives.getOperator(address))),
  ])
  return {
    sponsorships: sponsorships.map((sponsorship, i) => ({
      id: sponsorship.id,
      streamId: sponsorship.streamId,
      creator: sponsorship.creator.toLowerCase(),
      ratePerSecond: formatEther(sponsorship.ratePerSecond),
      unallocated: formatEther(sponsorship.unallocated),
      totalStake: formatEther(sponsorship.totalStake),
      operatorCount: sponsorship.operatorCount,
      minOperators: sponsorship.minOperators,
      maxOperators: sponsorship.maxOperators,
      paying: sponsorship.paying,
      stakes: stakes[i]!.map(summarizeStake),
    })),
    operators: operators.map((operator) => ({
      address: operator.address.toLowerCase(),
      owner: operator.owner.toLowerCase(),
      cutBps: operator.cutBps,
      metadata: operator.metadata,
      nodes: operator.nodes.map((node) => node.toLowerCase()),
      totalAssets: formatEther(operator.totalAssets),
      stakes: operator.stakes.map(summarizeStake),
    })),
  }
}

function summarizeStake(stake: Stake): StakeSummary {
  return {
    sponsorshipId: stake.sponsorshipId,
    operator: stake.operator.toLowerCase(),
    amount: formatEther(stake.amount),
    earnings: formatEther(stake.earnings),
    underReview: stake.underReview,
    kicked: stake.kicked,
  }
}
