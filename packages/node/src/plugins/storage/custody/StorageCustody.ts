import type { Hono } from 'hono'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import type { StoragePluginConfig } from '../../../config.js'
import type { ApiGateway } from '../../../api/ApiGateway.js'
import { PostgresKeyShareStore, SqliteKeyShareStore, type KeyShareStore } from '../../../storage/index.js'
import { addCustodyRoutes } from './custodyRoutes.js'
import { KeyCustodyService } from './KeyCustodyService.js'

/**
 * Threshold key custody on a storage node: the share store beside the
 * message store, the service, and its routes. The storage plugin owns one
 * and calls it at its own routes, start and stop.
 */
export class StorageCustody {
  private store: KeyShareStore | undefined
  private service: KeyCustodyService | undefined

  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: StoragePluginConfig,
    /** The node's private key; without it (a client handed in from outside) custody stays off. */
    private readonly privateKey: string | undefined,
    private readonly stores: (streamId: string) => boolean,
  ) {}

  routes(app: Hono): void {
    addCustodyRoutes(app, () => this.service)
  }

  async start(): Promise<void> {
    const custody = this.config.custody
    if (!custody.enabled || this.privateKey === undefined) return
    this.store =
      this.config.backend === 'postgres'
        ? await PostgresKeyShareStore.open(this.config.postgres!.url, { schema: this.config.postgres!.schema })
        : await SqliteKeyShareStore.open(this.config.sqlite.path)
    const { client } = this.gateway
    this.service = new KeyCustodyService(
      {
        store: this.store,
        privateKey: this.privateKey,
        address: client.address.toLowerCase(),
        verifier: nativeSignatureVerifier,
        stores: this.stores,
        // Straight from the chain: a revoke bites at the next request.
        hasPermission: (streamId, user, permission) =>
          client.registry.hasPermission(streamId, user as `0x${string}`, permission),
      },
      custody,
    )
  }

  async stop(): Promise<void> {
    this.service = undefined
    await this.store?.close()
  }
}
