import {
  ClientError,
  SlidingWindowLimiter,
  openManifest,
  openShareAsNode,
  openShareRequest,
  parseShareDeposit,
  sealShareToRequester,
  type ShareDeposit,
  type ShareReply,
} from '@runnel/client'
import { ChainError } from '@runnel/chain'
import { secp256k1PublicKey, type SignatureVerifier } from '@runnel/protocol'
import { NodeError } from '../../../errors.js'
import type { KeyShareStore } from '../../../storage/index.js'

/** What the custody service needs from the node. */
export interface KeyCustodyServiceComponents {
  readonly store: KeyShareStore
  /** This node's private key: shares are sealed to it. */
  readonly privateKey: string
  /** This node's address, lowercase. */
  readonly address: string
  readonly verifier: SignatureVerifier
  /** Whether this node stores the stream now (assigned on chain). */
  readonly stores: (streamId: string) => boolean
  /** Permission on chain now, not through a cache. */
  readonly hasPermission: (streamId: string, user: string, permission: 'publish' | 'subscribe') => Promise<boolean>
  readonly now?: () => number
}

export interface KeyCustodyServiceOptions {
  /** How far a share request's timestamp may be from this node's clock, either way. Default 60 s. */
  readonly maxRequestAgeMs?: number
  /** Share requests answered per requester per sliding minute. Default 60. */
  readonly maxRequestsPerMinute?: number
  /** Shares taken per publisher per sliding minute. Default 600. */
  readonly maxDepositsPerMinute?: number
}

/** The sealed share of a 32-byte key: 33 (ephemeral key) + 12 (IV) + 33 (share) + 16 (tag). */
const SEALED_SHARE_BYTES = 94
const REQUESTER_KEY_BYTES = 65

/**
 * A storage node's side of threshold key custody (docs/encryption.md): takes
 * the shares publishers deposit, and hands each to requesters with subscribe
 * permission, resealed to the request's one-off key. Pure logic over its
 * components; the HTTP routes are in custodyRoutes.ts.
 *
 * Every refusal is a `NodeError` naming what is wrong: `BAD_REQUEST`
 * (malformed, stale, a share that doesn't open), `UNAUTHORIZED` (signed by
 * someone else than it says), `PERMISSION_DENIED` (no permission on chain),
 * `STREAM_NOT_FOUND` (a stream this node doesn't store), `RATE_LIMITED`.
 */
export class KeyCustodyService {
  private readonly requests: SlidingWindowLimiter
  private readonly deposits: SlidingWindowLimiter
  private readonly now: () => number
  /** The node's public key, uncompressed, as `0x` hex: what publishers seal shares to. */
  readonly publicKey: string

  constructor(
    private readonly components: KeyCustodyServiceComponents,
    private readonly options: KeyCustodyServiceOptions = {},
  ) {
    this.requests = new SlidingWindowLimiter(options.maxRequestsPerMinute ?? 60)
    this.deposits = new SlidingWindowLimiter(options.maxDepositsPerMinute ?? 600)
    this.now = components.now ?? Date.now
    this.publicKey = '0x' + Buffer.from(secp256k1PublicKey(components.privateKey, false)).toString('hex')
  }

  /** `GET /custody/node`: the key publishers seal to; they check it against this node's address on chain. */
  identity(): { address: string; publicKey: string } {
    return { address: this.components.address, publicKey: this.publicKey }
  }

  /** `POST /custody/shares`: keeps a publisher's share of one of its keys. */
  async deposit(body: unknown): Promise<{ stored: boolean }> {
    let deposit: ShareDeposit
    let manifest
    try {
      deposit = parseShareDeposit(body)
      manifest = openManifest(deposit, this.components.verifier)
    } catch (err) {
      throw fromClientError(err)
    }
    if (!manifest.holders.includes(this.components.address)) {
      throw new NodeError('BAD_REQUEST', `this node (${this.components.address}) is not among the manifest's holders`)
    }
    if (!this.components.stores(manifest.streamId)) {
      throw new NodeError('STREAM_NOT_FOUND', `this node doesn't store ${manifest.streamId}`)
    }
    if (!this.deposits.allow(manifest.publisherId, this.now())) {
      throw new NodeError('RATE_LIMITED', `too many key shares from ${manifest.publisherId}: try again in a minute`)
    }
    if (!(await this.permitted(manifest.streamId, manifest.publisherId, 'publish'))) {
      throw new NodeError('PERMISSION_DENIED', `${manifest.publisherId} may not publish to ${manifest.streamId}`)
    }
    const sealed = decodeBase64(deposit.share)
    if (sealed.length !== SEALED_SHARE_BYTES) {
      throw new NodeError('BAD_REQUEST', `a sealed share is ${SEALED_SHARE_BYTES} bytes, got ${sealed.length}`)
    }
    try {
      // Checked now, not when someone asks: the publisher learns at once that this node can't use it.
      await openShareAsNode(this.components.privateKey, sealed, deposit.manifest)
    } catch {
      throw new NodeError('BAD_REQUEST', "the share doesn't open with this node's key and this manifest")
    }
    const stored = await this.components.store.put({
      streamId: manifest.streamId,
      publisherId: manifest.publisherId,
      groupKeyId: manifest.groupKeyId,
      manifest: deposit.manifest,
      signature: deposit.signature,
      share: sealed,
      storedAt: this.now(),
    })
    return { stored }
  }

  /** `POST /custody/keys`: this node's shares of the asked keys, resealed to the requester. */
  async answer(body: unknown): Promise<ShareReply> {
    let request
    try {
      request = openShareRequest(body, this.components.verifier)
    } catch (err) {
      throw fromClientError(err)
    }
    const now = this.now()
    const maxAge = this.options.maxRequestAgeMs ?? 60_000
    if (Math.abs(now - request.timestamp) > maxAge) {
      throw new NodeError(
        'BAD_REQUEST',
        `the share request's timestamp ${request.timestamp} is more than ${maxAge} ms from this node's clock (${now})`,
      )
    }
    if (!this.requests.allow(request.requester, now)) {
      throw new NodeError('RATE_LIMITED', `too many share requests from ${request.requester}: try again in a minute`)
    }
    const requesterKey = decodeBase64(request.publicKey)
    if (requesterKey.length !== REQUESTER_KEY_BYTES || requesterKey[0] !== 0x04) {
      throw new NodeError('BAD_REQUEST', 'the share request publicKey must be an uncompressed P-256 point (65 bytes)')
    }
    if (!(await this.permitted(request.streamId, request.requester, 'subscribe'))) {
      throw new NodeError('PERMISSION_DENIED', `${request.requester} may not subscribe to ${request.streamId}`)
    }
    const held = await this.components.store.get(request.streamId, request.publisherId, request.groupKeyIds)
    const shares: ShareDeposit[] = []
    for (const share of held) {
      let opened: Uint8Array
      try {
        opened = await openShareAsNode(this.components.privateKey, share.share, share.manifest)
      } catch {
        continue // checked when deposited; a row that no longer opens (a changed node key) is no share to give
      }
      try {
        const resealed = await sealShareToRequester(requesterKey, opened, share.manifest)
        shares.push({ manifest: share.manifest, signature: share.signature, share: encodeBase64(resealed) })
      } catch (err) {
        throw fromClientError(err)
      }
    }
    return { shares }
  }

  private async permitted(streamId: string, user: string, permission: 'publish' | 'subscribe'): Promise<boolean> {
    try {
      return await this.components.hasPermission(streamId, user, permission)
    } catch (err) {
      // A stream that doesn't exist is the asker's mistake; anything else is the chain's (the asker may retry).
      if (err instanceof ChainError && err.code === 'STREAM_NOT_FOUND') {
        throw new NodeError('STREAM_NOT_FOUND', `no stream ${streamId}`, { cause: err })
      }
      throw new NodeError('INTERNAL', `key custody: the chain couldn't be asked about ${streamId}`, { cause: err })
    }
  }
}

/** The client's record parsers throw ClientErrors; the API speaks NodeErrors. */
function fromClientError(err: unknown): NodeError {
  if (err instanceof NodeError) return err
  if (err instanceof ClientError) {
    return new NodeError(err.code === 'PERMISSION_DENIED' ? 'UNAUTHORIZED' : 'BAD_REQUEST', err.shortMessage, {
      cause: err,
    })
  }
  return new NodeError('INTERNAL', `key custody: ${String(err)}`, { cause: err })
}

function decodeBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'))
}

function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64')
}
