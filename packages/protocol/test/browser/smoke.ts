// Runs inside a real browser page (see ../integration/browser.test.ts): the
// protocol's entry point must work with nothing but web platform APIs.
import {
  ContentType,
  MessageId,
  createPureSigner,
  decodeStreamMessage,
  encodeJsonContent,
  encodeStreamMessage,
  generatePrivateKey,
  parseJsonContent,
  pureSignatureVerifier,
  signStreamMessage,
  toStreamId,
  verifyStreamMessage,
  whenHashingReady,
} from '../../src/index.js'

declare global {
  interface Window {
    smokeResult?: Promise<unknown>
  }
}

async function run(): Promise<unknown> {
  await whenHashingReady()
  const signer = createPureSigner(generatePrivateKey())
  const message = await signStreamMessage(
    {
      messageId: new MessageId(toStreamId(signer.address, '/browser/smoke'), 0, Date.now(), 0, signer.address, 'tab-1'),
      contentType: ContentType.Json,
      content: encodeJsonContent({ hello: 'browser' }),
    },
    signer,
  )
  const decoded = decodeStreamMessage(encodeStreamMessage(message))
  return {
    verified: verifyStreamMessage(decoded, pureSignatureVerifier),
    content: parseJsonContent(decoded.content),
    publisher: decoded.publisherId === signer.address,
  }
}

window.smokeResult = run()
