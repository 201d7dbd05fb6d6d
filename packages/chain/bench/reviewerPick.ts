// VoteKick._pickReviewers replayed off-chain, step for step, so the bench can say how many candidates a pick looked
// at (what its gas depends on) and check the replay against the reviewers the contract picked.
import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem'

export interface PickInput {
  /** The hash of the flag's block, the pick's seed. */
  readonly flagBlockHash: Hex
  readonly flagId: bigint
  /** `Sponsorships.stakedOperatorAt(0..n-1)` as the flag saw it. */
  readonly staked: readonly Address[]
  readonly flagger: Address
  readonly target: Address
  /** Operators staked on the flag's sponsorship (passed over in the first pass). */
  readonly insiders: ReadonlySet<Address>
  readonly reviewerCount: number
}

export interface PickReplay {
  readonly picked: Address[]
  /** Candidates read from the staked list (one `stakedOperatorAt` call each). */
  readonly lookedAt: number
  /** First-pass candidates passed over because they are staked on the sponsorship (one `stakeOf` call each). */
  readonly insidersPassedOver: number
}

const uint256x3 = [{ type: 'uint256' }, { type: 'uint256' }, { type: 'uint256' }] as const
const bytes32AndUint256 = [{ type: 'bytes32' }, { type: 'uint256' }] as const

export function replayPick(input: PickInput): PickReplay {
  const n = BigInt(input.staked.length)
  const seed = BigInt(keccak256(encodeAbiParameters(bytes32AndUint256, [input.flagBlockHash, input.flagId])))
  const draws = BigInt(input.reviewerCount * 4)
  const tries = n <= draws ? n : draws
  const picked: Address[] = []
  let lookedAt = 0
  let insidersPassedOver = 0
  for (let pass = 0n; pass < 2n && picked.length < input.reviewerCount; pass++) {
    for (let i = 0n; i < tries && picked.length < input.reviewerCount; i++) {
      const index = n <= draws ? (seed + i) % n : BigInt(keccak256(encodeAbiParameters(uint256x3, [seed, pass, i]))) % n
      const candidate = input.staked[Number(index)]!
      lookedAt += 1
      if (candidate === input.flagger || candidate === input.target || picked.includes(candidate)) continue
      if (pass === 0n && input.insiders.has(candidate)) {
        insidersPassedOver += 1
        continue
      }
      picked.push(candidate)
    }
  }
  return { picked, lookedAt, insidersPassedOver }
}
