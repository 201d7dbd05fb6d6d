/** Counters over the whole simulated network. */
export interface SimulatorStats {
  /** Frames accepted by `send` on an open connection, including those then lost. */
  framesSent: number
  /** Frames that reached an open receiving end (handed to `onFrame` or held until `setHandlers`). */
  framesDelivered: number
  /** Frames dropped on purpose by `lossRate`. */
  framesLost: number
  /** Frames that arrived after the receiving end had closed. */
  framesDiscarded: number
  bytesSent: number
}
