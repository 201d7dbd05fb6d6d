import type { Transport, TransportConnection } from '@runnel/network'
import { readStreamMessageHeader, type StreamMessageHeader } from '@runnel/protocol'

/** The first byte of a network data frame (the rest is one encoded message). */
const DATA_FRAME = 0x01

/**
 * A real transport whose incoming data frames are dropped when `drop(header)`
 * says so: a lossy link that loses chosen messages (every copy of them, from
 * every neighbour) while handshakes and control traffic go through.
 */
export class LossyTransport implements Transport {
  dropped = 0

  constructor(
    private readonly inner: Transport,
    private readonly drop: (header: StreamMessageHeader) => boolean,
  ) {}

  start(onConnection: (connection: TransportConnection) => void): Promise<string[]> {
    return this.inner.start((connection) => onConnection(this.wrap(connection)))
  }

  async connect(address: string, signal?: AbortSignal): Promise<TransportConnection> {
    return this.wrap(await this.inner.connect(address, signal))
  }

  stop(): Promise<void> {
    return this.inner.stop()
  }

  private wrap(connection: TransportConnection): TransportConnection {
    return {
      get remoteAddress() {
        return connection.remoteAddress
      },
      get bufferedAmount() {
        return connection.bufferedAmount
      },
      send: (frame) => connection.send(frame),
      close: (reason) => connection.close(reason),
      setHandlers: (handlers) =>
        connection.setHandlers({
          onClose: (reason) => handlers.onClose(reason),
          onFrame: (frame) => {
            if (frame[0] === DATA_FRAME && this.drop(readStreamMessageHeader(frame.subarray(1)))) {
              this.dropped++
              return
            }
            handlers.onFrame(frame)
          },
        }),
    }
  }
}
