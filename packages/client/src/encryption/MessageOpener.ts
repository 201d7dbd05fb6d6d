import { EncryptionType, StreamMessage } from '@runnel/protocol'
import { ClientError } from '../errors.js'
import { rememberOriginal } from '../messages.js'
import type { UndecryptableRuns } from '../subscribe/UndecryptableRuns.js'

export interface MessageOpenerComponents {
  /** The plaintext of an encrypted message (the encryption layer: the key from the store or a key source). */
  readonly decrypt: (message: StreamMessage) => Promise<Uint8Array>
  /** Where a failure other than a missing key goes (the client's `error` event). */
  readonly onError: (error: Error) => void
}

/**
 * Makes messages ready for the app: decrypted if they were encrypted, the signed original remembered for
 * `streamMessage`. Used by subscriptions and by history alike.
 */
export class MessageOpener {
  constructor(private readonly components: MessageOpenerComponents) {}

  /**
   * A message ready for the app. Throws rather than hand garbage content to the app.
   * @throws {@link ClientError} `KEY_UNAVAILABLE`, `DECRYPTION_FAILED`
   */
  async open(message: StreamMessage): Promise<StreamMessage> {
    if (message.encryptionType !== EncryptionType.Aes) return message
    const opened = new StreamMessage({
      messageId: message.messageId,
      prevMsgRef: message.prevMsgRef,
      messageType: message.messageType,
      contentType: message.contentType,
      content: await this.components.decrypt(message),
      signature: message.signature,
    })
    rememberOriginal(opened, message)
    return opened
  }

  /**
   * Decrypts a message of a chain; a key that can't be had is reported once per run of the chain's messages under
   * it (see {@link UndecryptableRuns}), any other failure to `onError`. Undefined when it can't be opened.
   */
  async openReporting(
    message: StreamMessage,
    chain: string,
    runs: UndecryptableRuns,
  ): Promise<StreamMessage | undefined> {
    runs.next(chain, message)
    try {
      const opened = await this.open(message)
      runs.flush(chain)
      return opened
    } catch (err) {
      if (err instanceof ClientError && err.code === 'KEY_UNAVAILABLE') runs.failed(chain, message, err)
      else {
        runs.flush(chain)
        this.components.onError(err instanceof Error ? err : new Error(String(err)))
      }
      return undefined
    }
  }
}
