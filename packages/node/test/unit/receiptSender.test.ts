import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  ManualClock,
  MessageId,
  MessageRef,
  StreamMessage,
  encodeJsonContent,
  type Receipt,
  type SignedReceipt,
} from '@runnel/protocol'
import { ReceiptSender } from '../../src/plugins/storage/ReceiptSender.js'

const PUBLISHER = '0x1111111111111111111111111111111111111111'
const STREAM_ID = `${PUBLISHER}/receipts`
// The sender never verifies: a well-formed signature that signs nothing is enough here.
const SIGNATURE = Uint8Array.from({ length: 65 }, (_, i) => (i === 64 ? 27 : 1))

function message(i: number): StreamMessage {
  return new StreamMessage({
    messageId: new MessageId(STREAM_ID, 0, 1_700_000_000_000 + i, 0, PUBLISHER, 'chain'),
    ...(i > 0 && { prevMsgRef: new MessageRef(1_700_000_000_000 + i - 1, 0) }),
    contentType: ContentType.Json,
    content: encodeJsonContent({ i }),
    signature: SIGNATURE,
  })
}

/** Records what would be signed and sent; signing answers at once. */
function recordingClient() {
  const signed: Omit<Receipt, 'signerId'>[] = []
  let sent = 0
  return {
    signed,
    sent: () => sent,
    client: {
      signReceipt: (fields: Omit<Receipt, 'signerId'>) => {
        signed.push(fields)
        return Promise.resolve({ ...fields, signerId: PUBLISHER, signature: SIGNATURE } as unknown as SignedReceipt)
      },
      publishControl: () => {
        sent++
        return Promise.resolve()
      },
    },
  }
}

describe('ReceiptSender on the node clock', () => {
  it('receipts a quiet commit at once, gathers commits during the interval into one receipt, stamped by the clock', async () => {
    const clock = new ManualClock(1_700_000_100_000)
    const { client, signed, sent } = recordingClient()
    const sender = new ReceiptSender(client, { clock, intervalMs: 50, onError: (err) => assert.fail(String(err)) })
    sender.committed([message(0)])
    await clock.advanceAsync(0)
    assert.equal(sent(), 1)
    assert.equal(signed[0]?.signedAt, 1_700_000_100_000)
    assert.equal(signed[0]?.messageCount, 1)
    // Within the interval after it: held until the interval is over, then one receipt for both.
    sender.committed([message(1)])
    sender.committed([message(2)])
    await clock.advanceAsync(49)
    assert.equal(sent(), 1, 'held for the rest of the interval')
    await clock.advanceAsync(1)
    assert.equal(sent(), 2)
    assert.equal(signed[1]?.messageCount, 2)
    assert.equal(signed[1]?.signedAt, 1_700_000_100_050)
  })
})
