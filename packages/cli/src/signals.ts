/** A promise of the first SIGINT or SIGTERM, and a way to stop listening. */
export interface ShutdownSignal {
  readonly received: Promise<NodeJS.Signals>
  dispose(): void
}

/**
 * Listens for SIGINT and SIGTERM. After the first one the listeners are
 * removed, so a second signal during a slow graceful stop ends the process the
 * default way.
 */
export function listenForShutdown(): ShutdownSignal {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined
  const dispose = (): void => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  const received = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (signal) => {
      dispose()
      resolve(signal)
    }
  })
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return { received, dispose }
}
