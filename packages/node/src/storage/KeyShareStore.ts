/**
 * Where a storage node keeps the key shares publishers deposit with it
 * (threshold key custody, docs/encryption.md). A share is kept exactly as it
 * arrived, sealed to this node's key: the database alone holds no share in
 * the clear, let alone a key.
 */
export interface StoredKeyShare {
  readonly streamId: string
  /** Lowercase address. */
  readonly publisherId: string
  readonly groupKeyId: string
  /** The publisher's manifest, as the exact JSON text it signed. */
  readonly manifest: string
  /** `0x` + 130 hex digits. */
  readonly signature: string
  /** The share, sealed to this node's secp256k1 key. */
  readonly share: Uint8Array
  /** When this node took it, ms since the Unix epoch. */
  readonly storedAt: number
}

export interface KeyShareStore {
  /** Keeps a share; the first one deposited for a key stays (false: one was already held, nothing changed). */
  put(share: StoredKeyShare): Promise<boolean>
  /** The shares held for some of one publisher's keys in a stream; keys without a share are left out. */
  get(streamId: string, publisherId: string, groupKeyIds: readonly string[]): Promise<StoredKeyShare[]>
  close(): Promise<void>
}
