import {
  EstimateGasExecutionError,
  encodeFunctionData,
  keccak256,
  type Account,
  type Address,
  type Chain,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem'
import { ChainError } from '../errors.js'
import { toChainError } from '../revert.js'
import { sendInTurn } from '../sendQueue.js'

export type RegistryWallet = WalletClient<Transport, Chain | undefined, Account>

export interface WriteOptions {
  /**
   * Simulate on the pending block rather than the latest: for a call that needs a block after the latest one (on a
   * chain that mines only on transactions, the write's own block is that block).
   */
  readonly simulateOnPending?: boolean
}

/**
 * Sends one contract write and waits for its receipt. Simulates first (a revert comes back decoded and costs no gas),
 * then sends in the account's turn (so concurrent writes get consecutive nonces).
 */
export async function writeContract(
  publicClient: PublicClient,
  wallet: RegistryWallet,
  address: Address,
  abi: readonly unknown[],
  functionName: string,
  args: readonly unknown[],
  options: WriteOptions = {},
): Promise<TransactionReceipt> {
  try {
    const simulate = (onPending = options.simulateOnPending === true) =>
      publicClient.simulateContract({
        address,
        abi,
        functionName,
        args,
        account: wallet.account,
        ...(onPending ? { blockTag: 'pending' } : {}),
      } as never)
    const { request } = await simulate()
    const account = wallet.account.address
    const data = encodeFunctionData({ abi, functionName, args })
    const hash = await sendInTurn(account, async () => {
      // Asked afresh for every try: a client may cache the count, and a retry needs the count after the collision.
      const nonce = await publicClient.getTransactionCount({ address: account, blockTag: 'pending' })
      const estimated = await wallet
        .prepareTransactionRequest({
          to: address,
          data,
          gas: (request as { gas?: bigint }).gas,
          nonce,
          account: wallet.account,
        } as never)
        .catch(async (err: unknown) => {
          // The estimate runs on the pending state: a transaction sent meanwhile (another account's stake taking the
          // last place) can make it revert where the simulation passed, and an estimate's revert comes back undecoded
          // ("unknown RPC error"). Simulated on the pending state, it says why.
          if (err instanceof EstimateGasExecutionError) await simulate(true)
          throw err
        })
      const prepared = withGasMargin(estimated as { gas?: bigint })
      // A wallet (an EIP-1193 provider's JSON-RPC account) signs and sends in one: browser wallets have no
      // eth_signTransaction.
      if (wallet.account.type === 'json-rpc') {
        return wallet.sendTransaction({ ...(prepared as object), chain: null } as never)
      }
      // chain null: the wallet may know no chain object (an app's client knows only an RPC URL); the chain id is asked.
      const signed = await wallet.signTransaction({ ...(prepared as object), chain: null } as never)
      try {
        return await wallet.sendRawTransaction({ serializedTransaction: signed })
      } catch (err) {
        // A send whose answer was lost and was retried by the transport is refused as a taken nonce, though the
        // transaction taking it is this one: then it went out, and sending it again would make the write twice.
        const hash = keccak256(signed)
        if (
          await publicClient.getTransaction({ hash }).then(
            () => true,
            () => false,
          )
        )
          return hash
        throw err
      }
    })
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success') {
      // It passed when simulated, so what made it fail came in between: another account's transaction mined first.
      // Simulated again on the state now, it says why (a decoded revert), or it would pass now.
      await simulate()
      throw new ChainError(
        'TRANSACTION_REVERTED',
        `transaction ${hash} reverted on chain though it passed when simulated: another transaction changed the state first; send it again`,
      )
    }
    return receipt
  } catch (err) {
    throw toChainError(err)
  }
}

/**
 * The estimate is exact for the state it ran on, and other accounts' transactions mined first may change it: a
 * stake that makes a sponsorship pay raises the next stake's cost, and an inner call short of gas (EIP-150 keeps
 * 1/64 back) reverts the whole write with no reason. A quarter more covers such drift; unused gas isn't charged.
 */
function withGasMargin<T extends { gas?: bigint }>(request: T): T {
  return request.gas === undefined ? request : { ...request, gas: request.gas + request.gas / 4n }
}
