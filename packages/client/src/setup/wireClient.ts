import { ChainStateCache, PUBLIC, type RunnelIncentives, type RunnelMarket, type RunnelRegistry } from '@runnel/chain'
import type { NetworkNode } from '@runnel/network'
import { pureSignatureVerifier, systemClock, type Clock, type MessageSigner } from '@runnel/protocol'
import type { Address } from 'viem'
import { publishingSigner } from '../auth/resolveAuth.js'
import { ClientError } from '../errors.js'
import { EncryptionLayer } from '../encryption/EncryptionLayer.js'
import { KeyCustody } from '../encryption/custody/KeyCustody.js'
import { MemoryKeyStore, type GroupKeyStore } from '../encryption/KeyStore.js'
import { MessageOpener } from '../encryption/MessageOpener.js'
import { ClientEventHub } from '../events/ClientEventHub.js'
import { quietLogger } from '../logger.js'
import { StreamPartJoins } from '../network/StreamPartJoins.js'
import { placementOfStreamPart } from '../network/placement.js'
import { DEFAULT_MAX_CLOCK_SKEW_MS, type RunnelClientComponents, type RunnelClientOptions } from '../options.js'
import { Publisher } from '../publish/Publisher.js'
import { PublishLog } from '../publish/PublishLog.js'
import { GapFiller } from '../storage/GapFiller.js'
import { History } from '../storage/History.js'
import { Resender } from '../storage/Resender.js'
import { StreamCatalog } from '../streams/StreamCatalog.js'
import { StreamResolver } from '../streams/StreamResolver.js'
import { MessageValidator } from '../subscribe/MessageValidator.js'
import { SubscriptionRegistry } from '../subscribe/SubscriptionRegistry.js'
import { ClientLifecycle } from './ClientLifecycle.js'
import {
  resolveClientAuth,
  resolveErc1271Verifier,
  resolveIncentives,
  resolveMarket,
  resolveNetworkNode,
  resolveRegistry,
} from './collaborators.js'

/** The pieces a `RunnelClient` is a facade over, wired together. */
export interface ClientParts {
  readonly address: Address
  readonly signer: MessageSigner
  readonly node: NetworkNode
  readonly clock: Clock
  /** Which stream parts the node is in and why (subscriptions, publishing, relaying). */
  readonly joins: StreamPartJoins
  readonly registry: RunnelRegistry
  /** The incentive bindings, built on first call: most clients never touch them. */
  readonly incentives: () => RunnelIncentives
  readonly market: () => RunnelMarket
  /** The one cache of chain state: permissions, partition counts, storage nodes and their URLs. */
  readonly chainState: ChainStateCache
  readonly events: ClientEventHub
  readonly lifecycle: ClientLifecycle
  readonly streams: StreamResolver
  readonly catalog: StreamCatalog
  readonly keyStore: GroupKeyStore
  readonly encryption: EncryptionLayer
  readonly custody: KeyCustody
  readonly publishLog: PublishLog
  readonly publisher: Publisher
  readonly validator: MessageValidator
  readonly subscriptions: SubscriptionRegistry
  readonly history: History
}

/**
 * Builds a client's pieces from its settings (`options`) and collaborators (`components`, each defaulted), and wires
 * each to the narrow view of the others it needs. Nothing starts here: the network node starts on the first call
 * that needs it ({@link ClientLifecycle}).
 */
export function wireClient(options: RunnelClientOptions, components: RunnelClientComponents): ClientParts {
  const maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS
  if (!Number.isSafeInteger(maxClockSkewMs) || maxClockSkewMs < 0) {
    throw new ClientError('INVALID_ARGUMENT', `maxClockSkewMs must be whole milliseconds ≥ 0, got ${maxClockSkewMs}`)
  }
  const auth = resolveClientAuth(options, components)
  const { signer } = auth
  // Messages go out as the client, or for an `erc1271Wallet` as that wallet (signature type 2).
  const publishAs = publishingSigner(auth)
  const address = auth.address.toLowerCase()
  const clock = components.clock ?? systemClock
  const logger = components.logger ?? quietLogger
  const verifier = components.verifier ?? pureSignatureVerifier
  const events = new ClientEventHub()
  const ttlMs = options.permissionCacheTtlMs ?? 30_000
  const registry = resolveRegistry(options, components, auth)
  let incentives: RunnelIncentives | undefined
  let market: RunnelMarket | undefined
  const node = resolveNetworkNode(options, components, signer, verifier, clock)
  const chainState = new ChainStateCache(registry, { ttlMs }, () => clock.now())
  const lifecycle = new ClientLifecycle(async () => {
    await node.start()
    chainState.start()
    // The node has stopped for good (IDENTITY_IN_USE): later calls throw it too, but a subscriber only hears it here.
    node.addFailureListener((error) => events.emit('error', error))
    // Whatever this node drops for a bad signature is reported, subscribed or only relaying.
    node.addInvalidMessageListener(({ message }) =>
      events.emit('invalidMessage', {
        streamPartId: message.streamPartId,
        publisherId: message.publisherId,
        reason: 'invalid-signature',
        streamMessage: message,
      }),
    )
  })
  const start = (): Promise<void> => lifecycle.start()
  const streams = new StreamResolver({ address, chainState, assertAlive: () => lifecycle.assertAlive() })
  const erc1271 = resolveErc1271Verifier(options, components)
  const validator = new MessageValidator(
    {
      mayPublish: (streamId, publisherId, at) => chainState.hasPermission(streamId, publisherId, 'publish', at),
      verifier,
      isValidErc1271Signature: (wallet, hash, signature) => erc1271.isValidSignature(wallet, hash, signature),
      clock,
      emit: events.emit,
    },
    maxClockSkewMs,
  )
  const resender = new Resender({
    storageNodeUrls: (streamId) => chainState.storageNodeUrls(streamId),
    validate: validator.validateStored,
  })
  const keyStore = components.keyStore ?? new MemoryKeyStore()
  const custody = new KeyCustody(
    { address, signer, verifier, registry, keyStore, onError: events.emitError, clock },
    options.encryption?.custody,
  )
  const joins = new StreamPartJoins(
    {
      node,
      start,
      isDestroyed: () => lifecycle.isDestroyed,
      clock,
      // Key requests are answered in every stream part joined, not only those published to: a restarted publisher
      // with a persistent key store answers for what it encrypted before.
      onFirstJoin: (streamPartId) => encryption.serve(streamPartId),
      placementOf: (streamPartId) => placementOfStreamPart(chainState, streamPartId, logger),
    },
    { joinTimeoutMs: options.joinTimeoutMs },
  )
  const encryption: EncryptionLayer = new EncryptionLayer(
    {
      address,
      signer,
      node,
      keyStore,
      join: (streamPartId) => joins.join(streamPartId),
      // Straight from the chain, not the cache: a revoke must bite at the next rekey, and requests are rare.
      maySubscribe: (streamId, user) => registry.hasPermission(streamId, user as Address, 'subscribe'),
      recoverFromCustody: (streamPartId, publisherId, keyId) => custody.recover(streamPartId, publisherId, keyId),
      clock,
      logger,
    },
    options.encryption,
  )
  const publishLog = new PublishLog(
    {
      address: publishAs.address,
      verifier,
      storageNodes: (streamId, fresh) => chainState.storageNodes(streamId, fresh),
      knownStorageNodes: (streamId) => chainState.knownStorageNodes(streamId),
      send: (streamPartId, type, content) => publisher.publishControl(streamPartId, type, content),
      addMessageListener: (streamPartId, listener) => node.addMessageListener(streamPartId, listener),
      onDrop: (event) => events.emit('retentionDrop', event),
      clock,
      logger,
    },
    options.retention,
  )
  const publisher: Publisher = new Publisher(
    {
      signer: publishAs,
      start,
      streams,
      mayPublish: (streamId) => chainState.hasPermission(streamId, publishAs.address as Address, 'publish'),
      // Streams anyone may subscribe to are published in the clear unless `encrypt` says otherwise.
      isPublic: (streamId) => chainState.hasPermission(streamId, PUBLIC, 'subscribe'),
      storageNodes: (streamId) => chainState.storageNodes(streamId),
      seal: (streamPartId, content) => encryption.seal(streamPartId, content),
      deposit: (streamId, keyId) => custody.deposit(streamId, keyId),
      joins,
      publishLog,
      broadcast: (message) => node.broadcast(message),
      clock,
    },
    maxClockSkewMs,
  )
  const opener = new MessageOpener({ decrypt: (message) => encryption.open(message), onError: events.emitError })
  const history = new History({ streams, resender, opener, onError: events.emitError, clock })
  const subscriptions = new SubscriptionRegistry(
    {
      address,
      start,
      streams,
      maySubscribe: async (streamId) => {
        if (await chainState.hasPermission(streamId, auth.address, 'subscribe')) return true
        // A refusal is read again from the chain: a purchase or grant of a moment ago may not have reached the cache
        // through its event feed yet, and subscribing right after buying is the marketplace's whole flow.
        await chainState.refreshPermissions(streamId, auth.address)
        return chainState.hasPermission(streamId, auth.address, 'subscribe')
      },
      subscribeExpiration: async (streamId) =>
        (await chainState.userPermissions(streamId, auth.address)).subscribeExpiration,
      joins,
      feed: node,
      history: resender,
      validate: validator.validate,
      opener,
      gapFiller: new GapFiller(
        { source: resender, clock, onError: events.emitError },
        { delayMs: options.gapFillDelayMs ?? 500, attempts: options.gapFillAttempts ?? 3 },
      ),
      events,
      clock,
    },
    {
      subscriptionBufferSize: options.subscriptionBufferSize,
      gapTimeoutMs: options.gapTimeoutMs,
      failedKeyMemoryMs: options.encryption?.failedKeyMemoryMs,
    },
  )
  const catalog = new StreamCatalog({ registry, streams, assertAlive: () => lifecycle.assertAlive() })
  return {
    address: auth.address,
    catalog,
    signer,
    node,
    clock,
    joins,
    registry,
    incentives: () => (incentives ??= resolveIncentives(options, components, auth)),
    market: () => (market ??= resolveMarket(options, components, auth)),
    chainState,
    events,
    lifecycle,
    streams,
    keyStore,
    encryption,
    custody,
    publishLog,
    publisher,
    validator,
    subscriptions,
    history,
  }
}
