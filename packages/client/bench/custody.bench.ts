// Threshold key custody's crypto per key and per share (no network): what a publisher spends putting one key in
// custody with n storage nodes, what a storage node spends answering for one share, and what a subscriber spends
// rebuilding a key from k shares. Run with `npm run bench`; figures go in docs/benchmarks.md ("Key custody").
import { performance } from 'node:perf_hooks'
import { createPureSigner, generatePrivateKey, secp256k1PublicKey } from '@runnel/protocol'
import { combine, split } from 'shamir-secret-sharing'
import {
  GroupKey,
  keyCommitment,
  openShareAsNode,
  openShareAsRequester,
  sealShareToNode,
  sealShareToRequester,
  signManifest,
} from '../src/index.js'
import { generateExchangeKeyPair } from '../src/encryption/keyExchange.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200)
const publisher = createPureSigner(generatePrivateKey())

/** Mean ms per call over ROUNDS calls, after ROUNDS / 10 warm-up calls. */
async function perCall(operation: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < ROUNDS / 10; i++) await operation()
  const start = performance.now()
  for (let i = 0; i < ROUNDS; i++) await operation()
  return (performance.now() - start) / ROUNDS
}

const rows: string[][] = []
for (const [n, k] of [
  [2, 2],
  [3, 2],
  [5, 3],
] as const) {
  const nodes = Array.from({ length: n }, () => generatePrivateKey())
  const publicKeys = nodes.map((node) => secp256k1PublicKey(node, false))
  const holders = nodes.map((node) => createPureSigner(node).address)
  const deposit = await perCall(async () => {
    const key = GroupKey.generate()
    const shares = await split(key.bytes, n, k)
    const manifest = { version: 1 as const, streamId: 's', publisherId: publisher.address, groupKeyId: key.id }
    const signed = await signManifest(
      { ...manifest, threshold: k, holders, commitment: await keyCommitment(key.bytes), createdAt: Date.now() },
      publisher,
    )
    await Promise.all(shares.map((share, i) => sealShareToNode(publicKeys[i]!, share, signed.manifest)))
  })
  const key = GroupKey.generate()
  const shares = await split(key.bytes, n, k)
  const sealed = await sealShareToNode(publicKeys[0]!, shares[0]!, 'manifest')
  const pair = await generateExchangeKeyPair()
  const answer = await perCall(async () =>
    sealShareToRequester(pair.publicKey, await openShareAsNode(nodes[0]!, sealed, 'manifest'), 'manifest'),
  )
  const resealed = await Promise.all(
    shares.slice(0, k).map((share) => sealShareToRequester(pair.publicKey, share, 'm')),
  )
  const rebuild = await perCall(async () => {
    const opened = await Promise.all(resealed.map((share) => openShareAsRequester(pair, share, 'm')))
    await keyCommitment(await combine(opened))
  })
  rows.push([`${k} of ${n}`, deposit.toFixed(2), answer.toFixed(2), rebuild.toFixed(2)])
}

console.log(`## Key custody (crypto only, mean of ${ROUNDS} calls)\n`)
console.log(
  '| shares | publisher, per key: split, sign, seal n (ms) | storage node, per share: open, reseal (ms) | subscriber, per key: open k, combine, check (ms) |',
)
console.log('| --- | ---: | ---: | ---: |')
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
