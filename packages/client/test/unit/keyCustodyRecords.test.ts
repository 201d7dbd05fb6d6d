import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ProtocolError,
  createPureSigner,
  generatePrivateKey,
  pureSignatureVerifier,
  secp256k1PublicKey,
  secp256k1SharedSecret,
} from '@runnel/protocol'
import { combine, split } from 'shamir-secret-sharing'
import {
  ClientError,
  GroupKey,
  keyCommitment,
  openManifest,
  openShareAsNode,
  openShareAsRequester,
  openShareRequest,
  sealShareToNode,
  sealShareToRequester,
  signManifest,
  signShareRequest,
  type KeyCustodyManifest,
} from '../../src/index.js'
import { generateExchangeKeyPair } from '../../src/encryption/keyExchange.js'

const publisher = createPureSigner(generatePrivateKey())
const holders = [0, 1, 2].map(() => createPureSigner(generatePrivateKey()).address)

async function manifestFor(key: GroupKey, overrides: Partial<KeyCustodyManifest> = {}): Promise<KeyCustodyManifest> {
  return {
    version: 1,
    streamId: `${publisher.address}/custody`,
    publisherId: publisher.address,
    groupKeyId: key.id,
    threshold: 2,
    holders,
    commitment: await keyCommitment(key.bytes),
    createdAt: 1_764_756_000_000,
    ...overrides,
  }
}

function code(err: unknown): string | undefined {
  return err instanceof ClientError || err instanceof ProtocolError ? err.code : undefined
}

describe('key custody records and seals', () => {
  it('agrees on one secp256k1 secret from either side, and refuses a point off the curve', () => {
    const node = generatePrivateKey()
    const ephemeral = generatePrivateKey()
    assert.deepEqual(
      secp256k1SharedSecret(ephemeral, secp256k1PublicKey(node, false)),
      secp256k1SharedSecret(node, secp256k1PublicKey(ephemeral)),
    )
    // A real point with its y moved: no longer on the curve.
    const offCurve = secp256k1PublicKey(ephemeral, false)
    offCurve[64] = offCurve[64]! ^ 1
    assert.throws(
      () => secp256k1SharedSecret(node, offCurve),
      (err) => code(err) === 'INVALID_PUBLIC_KEY',
    )
    assert.throws(
      () => secp256k1SharedSecret(node, new Uint8Array(10)),
      (err) => code(err) === 'INVALID_PUBLIC_KEY',
    )
  })

  it('opens a share only with the node it was sealed to and the manifest it was made for', async () => {
    const node = generatePrivateKey()
    const other = generatePrivateKey()
    const share = crypto.getRandomValues(new Uint8Array(33))
    const sealed = await sealShareToNode(secp256k1PublicKey(node, false), share, 'manifest A')
    assert.equal(sealed.length, 94)
    assert.deepEqual(await openShareAsNode(node, sealed, 'manifest A'), share)
    await assert.rejects(openShareAsNode(other, sealed, 'manifest A'), (err) => code(err) === 'DECRYPTION_FAILED')
    await assert.rejects(openShareAsNode(node, sealed, 'manifest B'), (err) => code(err) === 'DECRYPTION_FAILED')
    await assert.rejects(
      openShareAsNode(node, sealed.subarray(0, 40), 'manifest A'),
      (err) => code(err) === 'DECRYPTION_FAILED',
    )
  })

  it('reseals a share to a requester’s one-off key and to nobody else', async () => {
    const pair = await generateExchangeKeyPair()
    const stranger = await generateExchangeKeyPair()
    const share = crypto.getRandomValues(new Uint8Array(33))
    const sealed = await sealShareToRequester(pair.publicKey, share, 'm')
    assert.equal(sealed.length, 126)
    assert.deepEqual(await openShareAsRequester(pair, sealed, 'm'), share)
    await assert.rejects(openShareAsRequester(stranger, sealed, 'm'), (err) => code(err) === 'DECRYPTION_FAILED')
    const notAPoint = new Uint8Array(65).fill(4)
    await assert.rejects(sealShareToRequester(notAPoint, share, 'm'), (err) => code(err) === 'INVALID_ARGUMENT')
  })

  it('accepts a manifest signed by its publisher and refuses altered, forged or out-of-bounds ones', async () => {
    const key = GroupKey.generate()
    const signed = await signManifest(await manifestFor(key), publisher)
    assert.equal(openManifest(signed, pureSignatureVerifier).groupKeyId, key.id)
    const altered = { ...signed, manifest: signed.manifest.replace('"threshold":2', '"threshold":3') }
    assert.throws(() => openManifest(altered, pureSignatureVerifier), /not its publisher/)
    const forged = await signManifest(await manifestFor(key), createPureSigner(generatePrivateKey()))
    assert.throws(() => openManifest(forged, pureSignatureVerifier), /not its publisher/)
    for (const [overrides, field] of [
      [{ threshold: 1 }, /threshold/],
      [{ threshold: 4 }, /threshold/],
      [{ holders: [holders[0]!, holders[0]!] }, /holders/],
      [{ holders: Array.from({ length: 33 }, () => createPureSigner(generatePrivateKey()).address) }, /holders/],
      [{ groupKeyId: 'has space' }, /groupKeyId/],
      [{ version: 2 as 1 }, /version/],
    ] as const) {
      const bad = await signManifest(await manifestFor(key, overrides), publisher)
      assert.throws(
        () => openManifest(bad, pureSignatureVerifier),
        (err) => code(err) === 'INVALID_ARGUMENT' && field.test(String(err)),
      )
    }
    assert.throws(() => openManifest({ ...signed, signature: '0x12' }, pureSignatureVerifier), /signature/)
    assert.throws(() => openManifest({ ...signed, manifest: 'x'.repeat(5_000) }, pureSignatureVerifier), /at most 4096/)
  })

  it('knows who signed a share request, and refuses one signed by someone else than its requester', async () => {
    const requester = createPureSigner(generatePrivateKey())
    const pair = await generateExchangeKeyPair()
    const request = {
      streamId: `${publisher.address}/custody`,
      publisherId: publisher.address,
      groupKeyIds: ['k1'],
      requester: requester.address,
      publicKey: btoa(String.fromCharCode(...pair.publicKey)),
      timestamp: Date.now(),
    }
    assert.equal(
      openShareRequest(await signShareRequest(request, requester), pureSignatureVerifier).requester,
      requester.address,
    )
    const forged = await signShareRequest(request, createPureSigner(generatePrivateKey()))
    assert.throws(
      () => openShareRequest(forged, pureSignatureVerifier),
      (err) => code(err) === 'PERMISSION_DENIED',
    )
    const tooMany = await signShareRequest(
      { ...request, groupKeyIds: Array.from({ length: 101 }, (_, i) => `k${i}`) },
      requester,
    )
    assert.throws(() => openShareRequest(tooMany, pureSignatureVerifier), /groupKeyIds/)
    assert.throws(
      () => openShareRequest({ request: 42 }, pureSignatureVerifier),
      (err) => code(err) === 'INVALID_ARGUMENT',
    )
    assert.throws(
      () => openShareRequest(null, pureSignatureVerifier),
      (err) => code(err) === 'INVALID_ARGUMENT',
    )
  })

  it('rebuilds a key from any k of n shares and from no fewer', async () => {
    const key = GroupKey.generate()
    const shares = await split(key.bytes, 5, 3)
    for (const [a, b, c] of [
      [0, 1, 2],
      [0, 2, 4],
      [1, 3, 4],
    ] as const) {
      assert.deepEqual(await combine([shares[a]!, shares[b]!, shares[c]!]), key.bytes)
    }
    const fromTwo = await combine([shares[0]!, shares[3]!])
    assert.notDeepEqual(fromTwo, key.bytes)
    assert.notEqual(await keyCommitment(fromTwo), await keyCommitment(key.bytes), 'the commitment tells a wrong key')
  })
})
