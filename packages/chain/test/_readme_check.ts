import { ChainError, PermissionCache, PUBLIC } from '../src/index.js'
import { startDevChain } from '../src/dev/index.js'

// An in-process chain with both contracts deployed; pass { port: 8545 } to also serve JSON-RPC.
const dev = await startDevChain()
try {
  const owner = dev.registryFor(1) // acts as dev account 1 (account 0 deployed the contracts)
  const reader = dev.walletFor(2).account.address

  const stream = await owner.createStream('/sensors/temperature', { partitions: 3, description: 'Room temperatures' })
  console.log('created', stream.id) // 0x70997970c51812dc3a010c7d01b50e0d17dc79c8/sensors/temperature
  console.log('metadata', (await owner.getStream(stream.id)).metadata) // { partitions: 3, description: 'Room temperatures' }

  await owner.grantPermission(stream.id, PUBLIC, 'subscribe')
  console.log('reader may subscribe:', await owner.hasPermission(stream.id, reader, 'subscribe')) // true
  console.log('reader may publish:', await owner.hasPermission(stream.id, reader, 'publish')) // false

  // Answers from memory after the first look-up; contract events drop stale entries.
  const cache = new PermissionCache(owner, { ttlMs: 30_000 })
  cache.start()
  for (let i = 0; i < 3; i++) await cache.hasPermission(stream.id, reader, 'subscribe')
  console.log('cache', cache.stats) // { hits: 4, misses: 2, invalidations: 0 }: reader's own entry and PUBLIC's
  cache.stop()

  // Reverts come back as ChainErrors that say what was refused.
  await dev
    .registryFor(2)
    .deleteStream(stream.id)
    .catch((err: unknown) => {
      if (err instanceof ChainError) console.log(err.code, err.message)
    })
} finally {
  await dev.stop()
}
