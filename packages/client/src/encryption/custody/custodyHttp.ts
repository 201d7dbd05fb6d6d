import type { RunnelRegistry } from '@runnel/chain'
import { addressFromPublicKey } from '@runnel/protocol'
import { hexToBytes, type Address } from 'viem'
import { ClientError } from '../../errors.js'

/** A storage node as custody talks to it: its address, and its HTTP API's base URL. */
export interface StorageNodeEndpoint {
  readonly address: string
  readonly url: string
}

/**
 * Custody's HTTP side: where a storage node's API is (from its metadata on chain), and one request to it with the
 * node's refusal mapped onto a {@link ClientError} code.
 */
export class CustodyHttp {
  constructor(
    private readonly registry: Pick<RunnelRegistry, 'getStorageNode'>,
    private readonly requestTimeoutMs: number,
  ) {}

  /** The endpoints of the storage nodes among `addresses` whose metadata names an HTTP API. */
  async endpoints(addresses: readonly Address[]): Promise<StorageNodeEndpoint[]> {
    const found = await Promise.all(
      addresses.map(async (address) => {
        const metadata = await this.registry.getStorageNode(address).catch(() => undefined)
        const url = metadata?.http
        return typeof url === 'string' ? { address: address.toLowerCase(), url: url.replace(/\/+$/, '') } : undefined
      }),
    )
    return found.filter((endpoint) => endpoint !== undefined)
  }

  /** A storage node's public key, fetched from it and checked against its address: an address is keccak(public key). */
  async nodePublicKey(node: StorageNodeEndpoint): Promise<Uint8Array> {
    const answer = (await this.call(node, '/custody/node', undefined)) as { publicKey?: unknown }
    const hex = answer.publicKey
    if (typeof hex !== 'string' || !/^0x04[0-9a-f]{128}$/.test(hex)) {
      throw new ClientError('STORAGE_UNAVAILABLE', `${node.url} sent no custody public key`)
    }
    const publicKey = hexToBytes(hex as `0x${string}`)
    if (addressFromPublicKey(publicKey) !== node.address) {
      throw new ClientError(
        'STORAGE_UNAVAILABLE',
        `${node.url} answered with the key of another address than storage node ${node.address}`,
      )
    }
    return publicKey
  }

  /** One request to a storage node; its refusal becomes a ClientError with the node's code mapped. */
  async call(node: StorageNodeEndpoint, path: string, body: unknown): Promise<unknown> {
    let response: Response
    try {
      response = await fetch(`${node.url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        signal: AbortSignal.timeout(this.requestTimeoutMs),
        ...(body !== undefined && { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      })
    } catch (err) {
      throw new ClientError('STORAGE_UNAVAILABLE', `can't reach storage node ${node.address} at ${node.url}`, {
        cause: err,
      })
    }
    let json: unknown
    try {
      json = await response.json()
    } catch {
      json = undefined
    }
    if (response.ok) return json
    const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error
    const text = `storage node ${node.address} refused: HTTP ${response.status} ${error?.code ?? ''} ${error?.message ?? ''}`
    throw new ClientError(
      response.status === 403
        ? 'PERMISSION_DENIED'
        : response.status >= 400 && response.status < 500 && response.status !== 404 && response.status !== 429
          ? 'INVALID_ARGUMENT'
          : 'STORAGE_UNAVAILABLE',
      text.trim(),
    )
  }
}
