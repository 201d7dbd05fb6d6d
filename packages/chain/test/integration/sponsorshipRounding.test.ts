import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { encodeAbiParameters, parseUnits, type Abi, type Address } from 'viem'
import { operatorAbi, operatorFactoryAbi, runnelTokenAbi, sponsorshipsAbi } from '../../src/index.js'
import { startTestChain, type TestChain } from '../fixtures.js'

// An index step takes from a sponsorship's funds what it hands out. If that deduction is rounded down, an operator
// that settles over several steps is owed up to 1 wei per step more than was taken from the funds, and the contract
// owes more than it holds. The deduction has to round up (for the contract).
describe('Sponsorships rounding', () => {
  let chain: TestChain
  let sponsorships: Address
  let token: Address

  const send = async (account: number, address: Address, abi: Abi, functionName: string, args: unknown[]) => {
    const hash = await chain.walletFor(account).writeContract({ address, abi, functionName, args })
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
    assert.equal(receipt.status, 'success', functionName)
  }
  const read = <T>(address: Address, abi: Abi, functionName: string, args: unknown[] = []): Promise<T> =>
    chain.publicClient.readContract({ address, abi, functionName, args }) as Promise<T>

  before(async () => {
    chain = await startTestChain()
    ;({ sponsorships, token } = chain.deployment.incentives)
  })

  after(() => chain.stop())

  it('never owes more than it holds when an operator settles over many index steps', async () => {
    const { id: streamId } = await chain.registryFor(1).createStream('/rounding')
    const rate = parseUnits('1', 18)
    await send(1, sponsorships, sponsorshipsAbi, 'createSponsorship', [streamId, rate, 1, 10, 0n, 0n])
    const id = await read<bigint>(sponsorships, sponsorshipsAbi, 'sponsorshipCount')
    await send(1, token, runnelTokenAbi, 'transferAndCall', [
      sponsorships,
      parseUnits('1000', 18),
      encodeAbiParameters([{ type: 'uint8' }, { type: 'uint256' }], [1, id]),
    ])

    const { operatorFactory } = chain.deployment.incentives
    await send(2, operatorFactory, operatorFactoryAbi, 'createOperator', [0, '{}'])
    const operator = await read<Address>(operatorFactory, operatorFactoryAbi, 'operatorOf', [
      chain.walletFor(2).account.address,
    ])
    // A stake that doesn't divide 1e36 × (what is due), so every index step leaves a remainder.
    const stake = parseUnits('1000', 18) + 1n
    await send(2, token, runnelTokenAbi, 'transferAndCall', [operator, stake])
    await send(2, operator, operatorAbi, 'stake', [id, stake])

    // Twenty index steps (each 1-wei sponsoring accrues), with no settlement of the operator in between.
    await send(1, token, runnelTokenAbi, 'approve', [sponsorships, 20n])
    for (let step = 0; step < 20; step++) await send(1, sponsorships, sponsorshipsAbi, 'sponsor', [id, 1n])

    const held = await read<bigint>(token, runnelTokenAbi, 'balanceOf', [sponsorships])
    const { unallocated } = await read<{ unallocated: bigint }>(sponsorships, sponsorshipsAbi, 'getSponsorship', [id])
    const { amount, earnings } = await read<{ amount: bigint; earnings: bigint }>(
      sponsorships,
      sponsorshipsAbi,
      'getStake',
      [id, operator],
    )
    assert.ok(earnings > 0n, 'the sponsorship paid')
    const owed = unallocated + amount + earnings
    assert.ok(held >= owed, `holds ${held} wei, owes ${owed} (${owed - held} wei more)`)
    // The rounding dust the contract keeps: under 1 wei per step and per settlement.
    assert.ok(held - owed <= 21n, `dust ${held - owed} wei`)
  })
})
