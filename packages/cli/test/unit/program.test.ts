import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { runCli, type CliContext } from '../../src/index.js'

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI in this process, with in-memory streams and the given environment. */
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] }
  stdout.on('data', (chunk: Buffer) => chunks.stdout.push(chunk))
  stderr.on('data', (chunk: Buffer) => chunks.stderr.push(chunk))
  const context: CliContext = { stdout, stderr, stdin: new PassThrough(), env, homedir: '/nonexistent' }
  const code = await runCli(['node', 'runnel', ...args], context)
  return { code, stdout: Buffer.concat(chunks.stdout).toString(), stderr: Buffer.concat(chunks.stderr).toString() }
}

describe('runCli', () => {
  let home: string
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'runnel-program-'))
  })
  after(() => rm(home, { recursive: true, force: true }))

  it('prints help with the exit codes, and exits 0', async () => {
    const { code, stdout } = await run(['--help'])
    assert.equal(code, 0)
    assert.match(stdout, /Exit codes:\n {2}0 {2}success\n {2}1 {2}unexpected error\n {2}2 {2}usage error/)
    for (const command of [
      'identity',
      'stream',
      'publish',
      'subscribe',
      'resend',
      'storage-node',
      'token',
      'sponsorship',
      'operator',
      'tracker',
      'node',
      'dev',
    ]) {
      assert.match(stdout, new RegExp(`\\n  ${command} `), `lists ${command}`)
    }
  })

  it('shows an example in the help of each command', async () => {
    for (const command of [
      ['identity', 'create'],
      ['identity', 'show'],
      ['stream', 'create'],
      ['stream', 'show'],
      ['stream', 'search'],
      ['stream', 'delete'],
      ['stream', 'grant'],
      ['stream', 'revoke'],
      ['stream', 'permissions'],
      ['publish'],
      ['subscribe'],
      ['resend', 'last'],
      ['resend', 'from'],
      ['resend', 'range'],
      ['storage-node', 'register'],
      ['storage-node', 'unregister'],
      ['storage-node', 'add-stream'],
      ['storage-node', 'remove-stream'],
      ['storage-node', 'list'],
      ['storage-node', 'show'],
      ['token', 'balance'],
      ['token', 'transfer'],
      ...['create', 'fund', 'list', 'show'].map((name) => ['sponsorship', name]),
      ...[
        'create',
        'show',
        'list',
        'delegate',
        'undelegate',
        'stake',
        'unstake',
        'set-nodes',
        'withdraw-earnings',
        'flag',
        'vote',
        'flag-show',
        'conclude',
      ].map((name) => ['operator', name]),
      ['tracker'],
      ['node'],
    ]) {
      const { code, stdout } = await run([...command, '--help'])
      assert.equal(code, 0)
      assert.match(
        stdout,
        /\nExample:\n(?: {2}\$ .*\n)*? {2}\$ .*\brunnel /,
        `runnel ${command.join(' ')} --help has an example`,
      )
    }
  })

  it('prints the version', async () => {
    const { code, stdout } = await run(['--version'])
    assert.equal(code, 0)
    assert.match(stdout, /^\d+\.\d+\.\d+\n$/)
  })

  it('exits 2 on an unknown command, an unknown option, a missing or malformed argument', async () => {
    for (const args of [
      ['frobnicate'],
      ['stream', 'show'],
      ['stream', 'show', 'x/y', '--bogus'],
      ['stream', 'create', '/x', '--partitions', '101'],
      ['stream', 'grant', '/x', 'public', 'fly'],
      ['publish', '/x', '--partition', '1', '--partition-key', 'k'],
      ['subscribe', '/x', '--count', '0'],
      ['resend', 'last', 'x/y'],
      ['resend', 'last', 'x/y', '0'],
      ['resend', 'from', 'x/y', 'yesterday'],
      ['resend', 'range', 'x/y', '2025-06-02', '2025-06-01'],
      ['resend', 'range', 'x/y', '100:5', '100:4'],
      ['resend', 'last', 'x/y', '1', '--partition', '100'],
      ['storage-node', 'register', 'localhost:7172'],
      ['storage-node', 'add-stream', 'x/y'],
      ['node'],
    ]) {
      const { code, stderr } = await run(args)
      assert.equal(code, 2, `runnel ${args.join(' ')} exits 2 (stderr: ${stderr})`)
      assert.match(stderr, /^runnel: /, 'the message starts with runnel:')
    }
  })

  it('exits 3 with the setting and its source named when a setting is invalid', async () => {
    const { code, stderr } = await run(['stream', 'show', '0xabc/x'], {
      RUNNEL_HOME: home,
      RUNNEL_RPC_URL: 'localhost:8545',
    })
    assert.equal(code, 3)
    assert.equal(
      stderr,
      'runnel: rpcUrl from RUNNEL_RPC_URL: expected an http:// or https:// URL, got "localhost:8545"\n',
    )
  })

  it('exits 3 when a write needs a key and none is configured', async () => {
    const { code, stderr } = await run(['stream', 'create', '/x'], { RUNNEL_HOME: home })
    assert.equal(code, 3)
    assert.match(stderr, /^runnel: creating a stream needs a private key: pass --private-key, set RUNNEL_PRIVATE_KEY/)
  })

  it('exits 3 for a config file with an unknown key, and prints no stack unless RUNNEL_DEBUG=1', async () => {
    const config = join(home, 'bad.json')
    await writeFile(config, JSON.stringify({ rpc: 'http://127.0.0.1:8545' }))
    const plain = await run(['identity', 'show', '--config', config], { RUNNEL_HOME: home })
    assert.equal(plain.code, 3)
    assert.equal(
      plain.stderr,
      `runnel: config file ${config}: unknown key "rpc" (expected "privateKey", "rpcUrl", "trackers", "discovery", "entryPoints", "contracts", "incentives", "market")\n`,
    )
    const debug = await run(['identity', 'show', '--config', config], { RUNNEL_HOME: home, RUNNEL_DEBUG: '1' })
    assert.equal(debug.code, 3)
    assert.match(debug.stderr, /\n {4}at /, 'with RUNNEL_DEBUG=1 the stack follows')
  })
})
