import type { Abi, Address, ContractFunctionName, ContractFunctionReturnType, PublicClient } from 'viem'
import { ChainError } from './errors.js'
import type { RegistryWallet } from './registry/write.js'
import { toChainError } from './revert.js'

/** What a view function of `TAbi` named `TName` returns, as viem decodes it. */
export type ReadResult<TAbi extends Abi, TName extends string> = ContractFunctionReturnType<
  TAbi,
  'view' | 'pure',
  TName extends ContractFunctionName<TAbi, 'view' | 'pure'> ? TName : never
>

/**
 * Reads a view function, decoding a revert with `errors` too (a call that reverts in a contract it calls surfaces the
 * inner contract's error) into a {@link ChainError}.
 */
export async function readContract<const TAbi extends Abi, TName extends string>(
  publicClient: PublicClient,
  errors: Abi,
  abi: TAbi,
  address: Address,
  functionName: TName,
  args: readonly unknown[],
): Promise<ReadResult<TAbi, TName>> {
  try {
    return await publicClient.readContract({ address, abi: [...abi, ...errors], functionName, args } as never)
  } catch (err) {
    throw toChainError(err)
  }
}

/** The wallet writes are sent from. @throws {@link ChainError} `NO_ACCOUNT` when there is none */
export function requireWallet(wallet: RegistryWallet | undefined): RegistryWallet {
  if (wallet === undefined) throw new ChainError('NO_ACCOUNT', 'no wallet client; writes need one')
  return wallet
}
