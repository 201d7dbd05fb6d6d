// Embedded development chain: Hardhat Network (EDR) in-process, optionally served over JSON-RPC (HTTP POST and
// WebSocket on one port). Node.js only.
//
// Hardhat 2 has no public API for "a chain without a project": its entry point (`hardhat`, `hardhat/hre`) loads a
// hardhat.config from the cwd, registers tasks and can prompt for telemetry. `hardhat node` itself is only a thin
// wrapper around two internal pieces, and this file uses exactly those (checked against hardhat 2.29.1, EDR
// @nomicfoundation/edr 0.12.0-next.23; re-check on every hardhat upgrade):
//   - hardhat/internal/hardhat-network/provider/provider.js  `createHardhatNetworkProvider`: the EIP-1193 provider under
//     `hardhat node` and the in-process `hre.network.provider` (EDR provider plus error mapping and eth_subscribe
//     notifications). It is given a complete config, so no hardhat config is looked for, no project file is read and
//     nothing is written (no fork cache, no artifacts, no compiler, no downloads).
//   - hardhat/internal/hardhat-network/jsonrpc/handler.js  `JsonRpcHandler`: `hardhat node`'s HTTP/WebSocket JSON-RPC
//     request handler (batches, CORS, error encoding, per-socket subscriptions).
//   - `ws`, resolved from hardhat's own location: the WebSocket server version hardhat's handler is written against.
// We do not use hardhat's `JsonRpcServer` (jsonrpc/server.js): it has no listen-error handling (EADDRINUSE surfaces as
// an uncaught 'error' event) and its close() waits for in-flight HTTP requests; the ~40 lines of server lifecycle below
// replace it.
// Loading these modules prints nothing and reads no environment variables that matter here (no telemetry prompt, no
// Sentry: those live in hardhat's CLI), so nothing needs silencing. They are imported lazily, on first start.

import { pbkdf2Sync } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { isIPv6 } from 'node:net'
import type { Duplex } from 'node:stream'
import { bytesToHex } from 'viem'
import { HDKey } from 'viem/accounts'
// Types only (erased): the modules themselves are loaded lazily by loadHardhat().
import type * as HardhatHandlerModule from 'hardhat/internal/hardhat-network/jsonrpc/handler.js'
import type * as HardhatProviderModule from 'hardhat/internal/hardhat-network/provider/provider.js'

export interface EmbeddedChainOptions {
  /** Listen for JSON-RPC over HTTP and WebSocket on this host/port (same port for both). Omit port to run in-process only. 0 = any free port. */
  readonly host?: string // default '127.0.0.1'
  readonly port?: number
  readonly chainId?: number // default 31337
  /** Number of funded dev accounts derived from the mnemonic. Default 10. */
  readonly accounts?: number
}

export interface EmbeddedChain {
  /** EIP-1193 provider of the in-process chain (usable with viem's `custom(provider)`). */
  readonly provider: { request(args: { method: string; params?: unknown[] | object }): Promise<unknown> }
  readonly chainId: number
  /** 'http://127.0.0.1:PORT' and 'ws://127.0.0.1:PORT' when listening, else undefined. */
  readonly rpcUrl: string | undefined
  readonly wsUrl: string | undefined
  /** Private keys (0x-hex) of the funded dev accounts, deterministic (fixed mnemonic "test test test test test test test test test test test junk", path m/44'/60'/0'/0/i), each funded with 10,000 ETH. */
  readonly accountKeys: readonly `0x${string}`[]
  stop(): Promise<void>
}

/** Hardhat's well-known development mnemonic (its default accounts; never use it for anything of value). */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'
/** BIP-44 parent path of the dev accounts; account i is `${DEV_HD_PATH}/${i}`. */
const DEV_HD_PATH = "m/44'/60'/0'/0"
/** The EVM hardfork of every embedded chain: the newest hardfork hardhat 2.29.1 supports, which is also its default. */
export const DEV_HARDFORK = 'osaka'
/** 60M: hardhat 2.29.1's default block gas limit (osaka still caps a single transaction at 2^24 gas, EIP-7825). */
export const DEV_BLOCK_GAS_LIMIT = 60_000_000
/** 10,000 ETH in wei. */
const DEV_ACCOUNT_BALANCE = 10_000n * 10n ** 18n

const DEFAULT_HOST = '127.0.0.1'
const DEFAULT_CHAIN_ID = 31337
const DEFAULT_ACCOUNTS = 10

export async function startEmbeddedChain(options: EmbeddedChainOptions = {}): Promise<EmbeddedChain> {
  const host = options.host ?? DEFAULT_HOST
  const chainId = options.chainId ?? DEFAULT_CHAIN_ID
  const accountCount = options.accounts ?? DEFAULT_ACCOUNTS
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new RangeError(`invalid chainId: ${chainId}`)
  if (!Number.isSafeInteger(accountCount) || accountCount < 0) throw new RangeError(`invalid accounts: ${accountCount}`)
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)) {
    throw new RangeError(`invalid port: ${options.port}`)
  }

  const accountKeys = Object.freeze(devAccountKeys(accountCount))
  const hardhat = await loadHardhat()
  const edrProvider = await hardhat.createHardhatNetworkProvider(
    {
      hardfork: DEV_HARDFORK,
      chainId,
      networkId: chainId,
      blockGasLimit: DEV_BLOCK_GAS_LIMIT,
      minGasPrice: 0n,
      automine: true,
      intervalMining: 0, // 0 = no interval mining
      mempoolOrder: 'priority',
      chains: new Map(), // hardfork histories of remote chains: only used when forking
      genesisAccounts: accountKeys.map((privateKey) => ({ privateKey, balance: DEV_ACCOUNT_BALANCE })),
      allowUnlimitedContractSize: false,
      throwOnTransactionFailures: true,
      throwOnCallFailures: true,
      allowBlocksWithSameTimestamp: false,
      enableTransientStorage: false, // pre-cancun switch; transient storage is part of DEV_HARDFORK anyway
      enableRip7212: false, // P256 precompile: native since osaka
    },
    { enabled: false }, // hardhat's per-request console logger
  )

  const server = options.port === undefined ? undefined : await listen(hardhat, edrProvider, host, options.port)
  const urlHost = isIPv6(host) ? `[${host}]` : host

  let stopping: Promise<void> | undefined
  return {
    provider: {
      request(args) {
        if (stopping !== undefined) return Promise.reject(new Error('embedded chain is stopped'))
        return edrProvider.request(args).catch((err: unknown) => {
          throw withRevertCode(err)
        })
      },
    },
    chainId,
    rpcUrl: server === undefined ? undefined : `http://${urlHost}:${server.port}`,
    wsUrl: server === undefined ? undefined : `ws://${urlHost}:${server.port}`,
    accountKeys,
    stop() {
      // The EDR provider has no close(): it is freed with its last reference. Only the server holds OS resources.
      stopping ??= server?.close() ?? Promise.resolve()
      return stopping
    },
  }
}

// ---- hardhat internals (see the comment at the top) ----

type EdrProvider = Awaited<ReturnType<typeof HardhatProviderModule.createHardhatNetworkProvider>>

interface HardhatInternals {
  readonly createHardhatNetworkProvider: typeof HardhatProviderModule.createHardhatNetworkProvider
  readonly JsonRpcHandler: typeof HardhatHandlerModule.JsonRpcHandler
}

let hardhatInternals: Promise<HardhatInternals> | undefined

function loadHardhat(): Promise<HardhatInternals> {
  hardhatInternals ??= Promise.all([
    import('hardhat/internal/hardhat-network/provider/provider.js'),
    import('hardhat/internal/hardhat-network/jsonrpc/handler.js'),
  ]).then(([provider, handler]) => ({
    createHardhatNetworkProvider: provider.createHardhatNetworkProvider,
    JsonRpcHandler: handler.JsonRpcHandler,
  }))
  return hardhatInternals
}

/** The part of ws@7's API (hardhat's own dependency) used here. */
interface WsServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, done: (socket: WsSocket) => void): void
  /** Terminates every client, then calls back. */
  close(done: () => void): void
}
interface WsSocket {
  on(event: 'error', listener: (error: Error) => void): void
  terminate(): void
}
type WsServerConstructor = new (options: { noServer: true; maxPayload: number }) => WsServer

let wsServerConstructor: WsServerConstructor | undefined

function loadWsServer(): WsServerConstructor {
  if (wsServerConstructor === undefined) {
    const hardhatRequire = createRequire(createRequire(import.meta.url).resolve('hardhat/package.json'))
    wsServerConstructor = (hardhatRequire('ws') as { Server: WsServerConstructor }).Server
  }
  return wsServerConstructor
}

// ---- JSON-RPC server ----

interface RunningServer {
  readonly port: number
  close(): Promise<void>
}

async function listen(
  hardhat: HardhatInternals,
  provider: EdrProvider,
  host: string,
  port: number,
): Promise<RunningServer> {
  const handler = new hardhat.JsonRpcHandler(withRevertCodes(provider))
  const wsServer = new (loadWsServer())({ noServer: true, maxPayload: 100 * 1024 * 1024 })
  const httpServer: Server = createServer()

  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handler.handleHttp(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(error))
    })
  })
  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wsServer.handleUpgrade(req, socket, head, (ws) => {
      // ws@7 emits protocol errors on the socket (then closes it); unhandled, they would crash the process.
      ws.on('error', () => ws.terminate())
      void handler.handleWs(ws as Parameters<typeof handler.handleWs>[0])
    })
  })

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error)
    httpServer.once('error', onError)
    httpServer.listen({ host, port }, () => {
      httpServer.off('error', onError)
      resolve()
    })
  })

  const address = httpServer.address()
  if (address === null || typeof address === 'string') throw new Error('JSON-RPC server has no TCP address')
  return {
    port: address.port,
    async close() {
      const wsClosed = new Promise<void>((resolve) => wsServer.close(resolve))
      const httpClosed = new Promise<void>((resolve, reject) => {
        httpServer.close((error) => (error === undefined ? resolve() : reject(error)))
      })
      // close() stops accepting and drops idle keep-alive connections, but waits for in-flight requests: drop those too.
      httpServer.closeAllConnections()
      await Promise.all([wsClosed, httpClosed])
    },
  }
}

// ---- dev accounts ----

let devAccountsParent: HDKey | undefined
const devKeys: `0x${string}`[] = []

/** Keys of dev accounts 0..count-1 (BIP-39 seed computed once with node's native PBKDF2; then memoized). */
function devAccountKeys(count: number): `0x${string}`[] {
  if (devKeys.length < count) {
    // BIP-39: seed = PBKDF2-HMAC-SHA512(NFKD(mnemonic), 'mnemonic' + passphrase, 2048 rounds, 64 bytes); passphrase ''.
    devAccountsParent ??= HDKey.fromMasterSeed(
      pbkdf2Sync(DEV_MNEMONIC.normalize('NFKD'), 'mnemonic', 2048, 64, 'sha512'),
    ).derive(DEV_HD_PATH)
    for (let i = devKeys.length; i < count; i++) {
      const privateKey = devAccountsParent.deriveChild(i).privateKey
      if (privateKey === null) throw new Error(`cannot derive dev account ${i}`)
      devKeys.push(bytesToHex(privateKey))
    }
  }
  return devKeys.slice(0, count)
}

/**
 * The provider as the JSON-RPC handler is to see it: reverts marked as the provider errors they are, with code 3,
 * which the handler then sends as they are. Otherwise it calls them internal errors (-32603), as `hardhat node` does,
 * unlike geth, anvil and other nodes; clients such as viem take -32603 for a server fault and retry it (3 tries, 1 s
 * of backoff), so every read that reverts, such as looking up a stream that doesn't exist, took over a second.
 */
// The flag is hardhat's own test for a provider error (`ProviderError.isProviderError` in
// hardhat/internal/core/providers/errors.js, hardhat 2.29.1); a Proxy keeps the provider's events (eth_subscribe).
function withRevertCodes(provider: EdrProvider): EdrProvider {
  return new Proxy(provider, {
    get(target, property, receiver) {
      if (property === 'request') {
        return (args: Parameters<EdrProvider['request']>[0]) =>
          target.request(args).catch((err: unknown) => {
            const error = withRevertCode(err)
            const fields = error as { code?: unknown; _isProviderError?: boolean }
            if (fields.code === 3) fields._isProviderError = true
            throw error
          })
      }
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

/**
 * Hardhat's in-process provider reports a revert as an error carrying the
 * revert data but no JSON-RPC code (its server adds one on the wire). Clients
 * such as viem decode custom errors only from code 3 ("execution reverted"),
 * so give in-process errors the code they would have over HTTP.
 */
function withRevertCode(err: unknown): unknown {
  if (typeof err === 'object' && err !== null) {
    const error = err as { code?: unknown; data?: unknown }
    if (error.code === undefined && typeof error.data === 'string' && error.data.startsWith('0x')) error.code = 3
  }
  return err
}
