import type { RunnelClient } from '@runnel/client'
import { FileKeyStore, createRunnelClient } from '@runnel/client/node'
import { keyStorePath, type Settings } from './settings.js'

/** The client's discovery settings: the mode and the list it uses. */
export function networkSettings(
  settings: Settings,
): { discovery: 'tracker'; trackers: readonly string[] } | { discovery: 'dht'; entryPoints: readonly string[] } {
  return settings.discovery.value === 'dht'
    ? { discovery: 'dht', entryPoints: settings.entryPoints.value }
    : { discovery: 'tracker', trackers: settings.trackers.value }
}

/**
 * Runs `use` with a client built from the settings, and destroys the client
 * afterwards, whatever happens: a running client keeps the process alive.
 */
export async function withClient<T>(settings: Settings, use: (client: RunnelClient) => Promise<T>): Promise<T> {
  const client = createRunnelClient(
    {
      ...(settings.privateKey !== undefined && { auth: { privateKey: settings.privateKey.value } }),
      network: networkSettings(settings),
      chain: {
        rpcUrl: settings.rpcUrl.value,
        contracts: settings.contracts.value,
        incentives: settings.incentives.value,
        market: settings.market.value,
      },
    },
    // Group keys outlive the command: a later run answers key requests for what an earlier one encrypted.
    { keyStore: new FileKeyStore(keyStorePath(settings.home)) },
  )
  try {
    return await use(client)
  } finally {
    await client.destroy()
  }
}
