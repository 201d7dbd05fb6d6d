import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  createPublicClient,
  createWalletClient,
  custom,
  http,
  parseEther,
  webSocket,
  type Address,
  type Chain,
  type Hex,
  type Transport,
} from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import {
  DEV_BLOCK_GAS_LIMIT,
  DEV_HARDFORK,
  DEV_MNEMONIC,
  startEmbeddedChain,
  type EmbeddedChain,
} from '../../src/index.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const DEV_BALANCE = parseEther('10000')
/** Hardhat's documented account #0 for DEV_MNEMONIC: an independent check of the derivation. */
const HARDHAT_ACCOUNT_0 = {
  address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  privateKey: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
} as const

function devChain(chain: EmbeddedChain): Chain {
  const rpcUrls = { default: { http: chain.rpcUrl === undefined ? [] : [chain.rpcUrl] } }
  return {
    id: chain.chainId,
    name: 'embedded',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls,
  }
}

function randomAddress(): Address {
  return privateKeyToAccount(`0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')}`).address
}

/** Sends `value` from dev account 0 over `transport` and waits for the receipt there. */
async function transfer(chain: EmbeddedChain, transport: Transport, to: Address, value: bigint): Promise<void> {
  const wallet = createWalletClient({
    account: privateKeyToAccount(chain.accountKeys[0]!),
    chain: devChain(chain),
    transport,
  })
  const hash = await wallet.sendTransaction({ to, value })
  const receipt = await createPublicClient({ chain: devChain(chain), transport }).waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
}

/** Closes viem's cached WebSocket connection of `client` (the server would otherwise see it reconnect). */
async function closeWs(client: { transport: object }): Promise<void> {
  const transport = client.transport as { getRpcClient(): Promise<{ close(): void }> }
  ;(await transport.getRpcClient()).close()
}

/** Runs a tiny viem script in a separate OS process: reads `address`'s balance and the block number from `rpcUrl`. */
async function readFromOtherProcess(rpcUrl: string, address: Address): Promise<{ balance: bigint; block: bigint }> {
  const script = `
    import { createPublicClient, http } from 'viem'
    const client = createPublicClient({ transport: http(process.env.RPC_URL) })
    const [balance, block] = await Promise.all([
      client.getBalance({ address: process.env.ADDRESS }),
      client.getBlockNumber(),
    ])
    process.stdout.write(JSON.stringify({ balance: balance.toString(), block: block.toString(), pid: process.pid }))
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT, // resolves 'viem' from the repo's node_modules
    env: { ...process.env, RPC_URL: rpcUrl, ADDRESS: address },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  try {
    const [code] = (await once(child, 'close')) as [number | null]
    assert.equal(code, 0, `child process failed: ${stderr}`)
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill()
  }
  const result = JSON.parse(stdout) as { balance: string; block: string; pid: number }
  assert.notEqual(result.pid, process.pid)
  return { balance: BigInt(result.balance), block: BigInt(result.block) }
}

/** Whether a TCP server can listen on host:port right now. */
async function canBind(host: string, port: number): Promise<boolean> {
  const server = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port, exclusive: true }, resolve)
    })
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') return false
    throw error
  } finally {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

function portOf(url: string | undefined): number {
  assert.ok(url !== undefined)
  return Number(new URL(url).port)
}

describe('embedded chain, in-process', () => {
  let chain: EmbeddedChain
  let firstStartMs: number

  before(async () => {
    const start = performance.now()
    chain = await startEmbeddedChain()
    firstStartMs = performance.now() - start
  })
  after(() => chain.stop())

  it('starts fast', async (t) => {
    const start = performance.now()
    const other = await startEmbeddedChain()
    const elapsed = performance.now() - start
    await other.stop()
    t.diagnostic(`first in-process start (loads hardhat): ${firstStartMs.toFixed(0)} ms`)
    t.diagnostic(`warm in-process start: ${elapsed.toFixed(1)} ms`)
    assert.ok(elapsed < 2000, `start took ${elapsed} ms`)
  })

  it('answers eth_chainId and is not listening', async () => {
    assert.equal(await chain.provider.request({ method: 'eth_chainId' }), '0x7a69')
    assert.equal(chain.chainId, 31337)
    assert.equal(chain.rpcUrl, undefined)
    assert.equal(chain.wsUrl, undefined)
  })

  it('funds the mnemonic-derived dev accounts with 10,000 ETH each', async () => {
    assert.equal(chain.accountKeys.length, 10)
    assert.equal(chain.accountKeys[0], HARDHAT_ACCOUNT_0.privateKey)
    const expected = chain.accountKeys.map((_, i) => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i }).address)
    assert.deepEqual(
      chain.accountKeys.map((key) => privateKeyToAccount(key).address),
      expected,
    )
    assert.equal(expected[0], HARDHAT_ACCOUNT_0.address)
    const accounts = (await chain.provider.request({ method: 'eth_accounts' })) as string[]
    assert.deepEqual(
      accounts.map((a) => a.toLowerCase()),
      expected.map((a) => a.toLowerCase()),
    )
    const client = createPublicClient({ transport: custom(chain.provider) })
    for (const address of expected) assert.equal(await client.getBalance({ address }), DEV_BALANCE)
  })

  it('honours the accounts and chainId options', async () => {
    const small = await startEmbeddedChain({ accounts: 3, chainId: 1337 })
    try {
      assert.equal(small.accountKeys.length, 3)
      assert.deepEqual(small.accountKeys, chain.accountKeys.slice(0, 3))
      assert.equal(((await small.provider.request({ method: 'eth_accounts' })) as string[]).length, 3)
      assert.equal(await small.provider.request({ method: 'eth_chainId' }), '0x539')
    } finally {
      await small.stop()
    }
  })

  it(`runs ${DEV_HARDFORK} with a ${DEV_BLOCK_GAS_LIMIT} block gas limit, automining`, async () => {
    const client = createPublicClient({ transport: custom(chain.provider), cacheTime: 0 })
    const block = await client.getBlock()
    assert.ok(block.gasLimit >= 60_000_000n)
    assert.equal(block.gasLimit, BigInt(DEV_BLOCK_GAS_LIMIT))
    // CLZ (EIP-7939) only exists from osaka on: init code `PUSH1 1 CLZ PUSH0 MSTORE PUSH1 32 PUSH0 RETURN` returns 255.
    assert.equal(DEV_HARDFORK, 'osaka')
    const { data } = await client.call({ data: '0x60011e5f5260205ff3' })
    assert.equal(BigInt(data!), 255n)

    const before = await client.getBlockNumber()
    await transfer(chain, custom(chain.provider), randomAddress(), 1n)
    assert.equal(await client.getBlockNumber(), before + 1n)
  })

  it('rejects requests after stop()', async () => {
    const stopped = await startEmbeddedChain({ accounts: 1 })
    await stopped.stop()
    await stopped.stop() // idempotent
    await assert.rejects(stopped.provider.request({ method: 'eth_chainId' }), /stopped/)
  })
})

describe('embedded chain, listening on 127.0.0.1', () => {
  let chain: EmbeddedChain
  let startMs: number

  before(async () => {
    const start = performance.now()
    chain = await startEmbeddedChain({ port: 0 })
    startMs = performance.now() - start
  })
  after(() => chain.stop())

  it('reports HTTP and WebSocket URLs on one port', (t) => {
    t.diagnostic(`listening start: ${startMs.toFixed(1)} ms, ${chain.rpcUrl}`)
    assert.match(chain.rpcUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.match(chain.wsUrl ?? '', /^ws:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(portOf(chain.rpcUrl), portOf(chain.wsUrl))
    assert.ok(portOf(chain.rpcUrl) > 0)
  })

  it('serves HTTP and WebSocket; a transfer on one is seen on the other', async () => {
    const httpClient = createPublicClient({ transport: http(chain.rpcUrl) })
    const wsClient = createPublicClient({ transport: webSocket(chain.wsUrl, { reconnect: false, keepAlive: false }) })
    try {
      assert.equal(await httpClient.getBlockNumber(), await wsClient.getBlockNumber())
      assert.equal(await wsClient.getChainId(), 31337)

      const viaHttp = randomAddress()
      await transfer(chain, http(chain.rpcUrl), viaHttp, parseEther('1.5'))
      assert.equal(await wsClient.getBalance({ address: viaHttp }), parseEther('1.5'))

      const viaWs = randomAddress()
      await transfer(chain, webSocket(chain.wsUrl, { reconnect: false, keepAlive: false }), viaWs, 7n)
      assert.equal(await httpClient.getBalance({ address: viaWs }), 7n)
    } finally {
      await closeWs(wsClient)
    }
  })

  it('pushes eth_subscribe newHeads over WebSocket', async () => {
    const wsClient = createPublicClient({ transport: webSocket(chain.wsUrl, { reconnect: false, keepAlive: false }) })
    try {
      const start = await wsClient.getBlockNumber()
      let onHead: (head: { number: Hex }) => void = () => {}
      const head = new Promise<{ number: Hex }>((resolve) => (onHead = resolve))
      const subscription = await wsClient.transport.subscribe({
        params: ['newHeads'],
        onData: (data) => onHead(data.result as { number: Hex }),
      })
      await transfer(chain, http(chain.rpcUrl), randomAddress(), 1n) // mines a block
      assert.equal(BigInt((await head).number), start + 1n)
      assert.equal((await subscription.unsubscribe()).result, true)
    } finally {
      await closeWs(wsClient)
    }
  })

  it('is reachable from a second OS process over HTTP', async () => {
    const recipient = randomAddress()
    await transfer(chain, custom(chain.provider), recipient, 42n)
    const blockHere = await createPublicClient({ transport: custom(chain.provider) }).getBlockNumber()
    const account0 = privateKeyToAccount(chain.accountKeys[0]!).address
    const [other, account0There] = await Promise.all([
      readFromOtherProcess(chain.rpcUrl!, recipient),
      readFromOtherProcess(chain.rpcUrl!, account0),
    ])
    assert.equal(other.balance, 42n)
    assert.equal(other.block, blockHere)
    assert.ok(account0There.balance > 0n && account0There.balance < DEV_BALANCE)
  })
})

describe('embedded chain lifecycle', () => {
  it('runs two independent chains in one process', async () => {
    const a = await startEmbeddedChain({ port: 0 })
    const b = await startEmbeddedChain({ port: 0 })
    try {
      assert.notEqual(portOf(a.rpcUrl), portOf(b.rpcUrl))
      const clientA = createPublicClient({ transport: http(a.rpcUrl) })
      const clientB = createPublicClient({ transport: http(b.rpcUrl) })
      const recipient = randomAddress()
      await transfer(a, http(a.rpcUrl), recipient, 5n)
      assert.equal(await clientA.getBalance({ address: recipient }), 5n)
      assert.equal(await clientB.getBalance({ address: recipient }), 0n)
      assert.equal(await clientA.getBlockNumber(), 1n)
      assert.equal(await clientB.getBlockNumber(), 0n)

      await a.stop()
      assert.equal(await clientB.getBlockNumber(), 0n)
      await transfer(b, http(b.rpcUrl), recipient, 6n)
      assert.equal(await clientB.getBalance({ address: recipient }), 6n)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('frees the port on stop(), even with open HTTP keep-alive and WebSocket connections', async () => {
    const chain = await startEmbeddedChain({ port: 0 })
    const port = portOf(chain.rpcUrl)
    const httpClient = createPublicClient({ transport: http(chain.rpcUrl) })
    const wsClient = createPublicClient({ transport: webSocket(chain.wsUrl, { reconnect: false, keepAlive: false }) })
    try {
      await Promise.all([httpClient.getBlockNumber(), wsClient.getBlockNumber()]) // opens both connections
      assert.equal(await canBind('127.0.0.1', port), false)
      await chain.stop()
      assert.equal(await canBind('127.0.0.1', port), true)
      await assert.rejects(fetch(chain.rpcUrl!, { method: 'POST', body: '{}' }))
    } finally {
      await chain.stop()
      await closeWs(wsClient)
    }

    // ...and a new chain can take the same port.
    const again = await startEmbeddedChain({ port })
    try {
      assert.equal(again.rpcUrl, chain.rpcUrl)
      assert.equal(await createPublicClient({ transport: http(again.rpcUrl) }).getBlockNumber(), 0n)
    } finally {
      await again.stop()
    }
  })

  it('rejects (without crashing) when the port is taken', async () => {
    const chain = await startEmbeddedChain({ port: 0 })
    try {
      await assert.rejects(startEmbeddedChain({ port: portOf(chain.rpcUrl) }), { code: 'EADDRINUSE' })
    } finally {
      await chain.stop()
    }
  })
})
