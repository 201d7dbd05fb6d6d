import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, keccak256, toBytes, type Address, type Hex } from 'viem'
import { sign } from 'viem/accounts'
import { ChainError, Erc1271Verifier, exampleErc1271WalletAbi, exampleErc1271WalletBytecode } from '../../src/index.js'
import { startTestChain, type TestChain } from '../fixtures.js'

/** The hash's ECDSA signature by `privateKey`, 65 bytes r‖s‖v (v 27 or 28), as the example wallet wants. */
function signHash(hash: Uint8Array, privateKey: Hex): Promise<Uint8Array> {
  return sign({ hash: bytesToHex(hash), privateKey, to: 'bytes' })
}

describe('Erc1271Verifier on the embedded chain', () => {
  let chain: TestChain
  let wallet: Address
  const hash = toBytes(keccak256(toBytes('a Runnel signature payload')))

  before(async () => {
    chain = await startTestChain()
    const owner = chain.walletFor(2)
    const deployHash = await chain.walletFor(1).deployContract({
      abi: exampleErc1271WalletAbi,
      bytecode: exampleErc1271WalletBytecode,
      args: [owner.account.address],
    })
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: deployHash })
    wallet = receipt.contractAddress!
  })

  after(() => chain.stop())

  it('accepts the owner’s signature and rejects another key’s, remembering both answers', async () => {
    const verifier = new Erc1271Verifier(chain.publicClient)
    const byOwner = await signHash(hash, chain.chain.accountKeys[2]!)
    const byStranger = await signHash(hash, chain.chain.accountKeys[3]!)
    assert.equal(await verifier.isValidSignature(wallet, hash, byOwner), true)
    assert.equal(await verifier.isValidSignature(wallet, hash, byStranger), false)
    assert.deepEqual(verifier.stats, { hits: 0, misses: 2 })
    for (let i = 0; i < 10; i++) await verifier.isValidSignature(wallet, hash, byOwner)
    assert.deepEqual(verifier.stats, { hits: 10, misses: 2 })
  })

  it('rejects a signature over another hash, for an account without code, and one the wallet reverts on', async () => {
    const verifier = new Erc1271Verifier(chain.publicClient)
    const byOwner = await signHash(hash, chain.chain.accountKeys[2]!)
    const otherHash = toBytes(keccak256(toBytes('another payload')))
    assert.equal(await verifier.isValidSignature(wallet, otherHash, byOwner), false)
    assert.equal(await verifier.isValidSignature(chain.walletFor(2).account.address, hash, byOwner), false)
    // Not 65 bytes: the example wallet answers "invalid" rather than reverting; still false.
    assert.equal(await verifier.isValidSignature(wallet, hash, byOwner.subarray(0, 64)), false)
  })

  it('asks again once an answer’s TTL has passed: a changed owner revokes what the old one signed', async () => {
    let now = 1_000_000
    const verifier = new Erc1271Verifier(chain.publicClient, { ttlMs: 1_000 }, () => now)
    const byOwner = await signHash(hash, chain.chain.accountKeys[2]!)
    assert.equal(await verifier.isValidSignature(wallet, hash, byOwner), true)
    const setOwner = await chain.walletFor(2).writeContract({
      address: wallet,
      abi: exampleErc1271WalletAbi,
      functionName: 'setOwner',
      args: [chain.walletFor(4).account.address],
    })
    await chain.publicClient.waitForTransactionReceipt({ hash: setOwner })
    assert.equal(await verifier.isValidSignature(wallet, hash, byOwner), true, 'cached within the TTL')
    now += 1_001
    assert.equal(await verifier.isValidSignature(wallet, hash, byOwner), false)
  })

  it('refuses a hash that is not 32 bytes and an oversized signature with INVALID_ARGUMENT', async () => {
    const verifier = new Erc1271Verifier(chain.publicClient)
    const isInvalidArgument = (err: unknown): boolean => err instanceof ChainError && err.code === 'INVALID_ARGUMENT'
    await assert.rejects(verifier.isValidSignature(wallet, new Uint8Array(31), new Uint8Array(65)), isInvalidArgument)
    await assert.rejects(verifier.isValidSignature(wallet, hash, new Uint8Array(1_025)), isInvalidArgument)
    await assert.rejects(verifier.isValidSignature(wallet, hash, new Uint8Array(0)), isInvalidArgument)
    assert.equal(verifier.stats.misses, 0, 'nothing was sent')
  })
})
