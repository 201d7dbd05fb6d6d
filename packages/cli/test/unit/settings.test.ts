import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { LOCAL_DEFAULTS } from '@runnel/client'
import { CliError, loadSettings, resolveSettings, type SettingsLayers } from '../../src/index.js'

const KEYS = {
  flag: '0x' + '11'.repeat(32),
  env: '0x' + '22'.repeat(32),
  config: '0x' + '33'.repeat(32),
  identity: '0x' + '44'.repeat(32),
}
const IDENTITY_ADDRESS = '0x7564105E977516C53bE337314c7E53838967bDaC' // of KEYS.identity
const CONTRACTS = {
  streamRegistry: '0x' + 'aa'.repeat(20),
  storageNodeRegistry: '0x' + 'bb'.repeat(20),
}

/** Every layer set, each with a value of its own. */
function allLayers(): SettingsLayers {
  return {
    flags: { privateKey: KEYS.flag, rpc: 'http://flag:1', tracker: ['ws://flag:1'] },
    env: { RUNNEL_PRIVATE_KEY: KEYS.env, RUNNEL_RPC_URL: 'http://env:1', RUNNEL_TRACKERS: 'ws://env:1,ws://env:2' },
    home: '/home/me/.runnel',
    config: {
      path: '/home/me/.runnel/config.json',
      content: {
        privateKey: KEYS.config,
        rpcUrl: 'http://config:1',
        trackers: ['ws://config:1'],
        contracts: CONTRACTS,
      },
    },
    identity: { path: '/home/me/.runnel/identity.json', text: JSON.stringify({ privateKey: KEYS.identity }) },
  }
}

function expectInvalid(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof CliError, `expected a CliError, got ${String(err)}`)
    assert.equal(err.code, 'INVALID_SETTINGS')
    assert.match(err.message, pattern)
    return true
  })
}

describe('resolveSettings', () => {
  it('takes each setting from the flag over every other layer', () => {
    const settings = resolveSettings(allLayers())
    assert.deepEqual(settings.privateKey, { value: KEYS.flag, source: '--private-key' })
    assert.deepEqual(settings.rpcUrl, { value: 'http://flag:1', source: '--rpc' })
    assert.deepEqual(settings.trackers, { value: ['ws://flag:1'], source: '--tracker' })
  })

  it('takes the environment over the config file when no flag is given', () => {
    const settings = resolveSettings({ ...allLayers(), flags: {} })
    assert.deepEqual(settings.privateKey, { value: KEYS.env, source: 'RUNNEL_PRIVATE_KEY' })
    assert.deepEqual(settings.rpcUrl, { value: 'http://env:1', source: 'RUNNEL_RPC_URL' })
    assert.deepEqual(settings.trackers, { value: ['ws://env:1', 'ws://env:2'], source: 'RUNNEL_TRACKERS' })
  })

  it('takes the config file over the identity file and the defaults', () => {
    const settings = resolveSettings({ ...allLayers(), flags: {}, env: {} })
    const source = 'config file /home/me/.runnel/config.json'
    assert.deepEqual(settings.privateKey, { value: KEYS.config, source })
    assert.deepEqual(settings.rpcUrl, { value: 'http://config:1', source })
    assert.deepEqual(settings.trackers, { value: ['ws://config:1'], source })
    assert.deepEqual(settings.contracts, { value: CONTRACTS, source })
  })

  it('takes the key from the identity file when no flag, variable or config gives one', () => {
    const settings = resolveSettings({ ...allLayers(), flags: {}, env: {}, config: undefined })
    assert.deepEqual(settings.privateKey, {
      value: KEYS.identity,
      source: 'identity file /home/me/.runnel/identity.json',
    })
  })

  it('falls back to LOCAL_DEFAULTS, and to no key at all', () => {
    const settings = resolveSettings({ flags: {}, env: {}, home: '/h' })
    assert.equal(settings.privateKey, undefined)
    assert.deepEqual(settings.rpcUrl, { value: LOCAL_DEFAULTS.rpcUrl, source: 'default' })
    assert.deepEqual(settings.trackers, { value: LOCAL_DEFAULTS.trackers, source: 'default' })
    assert.deepEqual(settings.contracts, { value: LOCAL_DEFAULTS.contracts, source: 'default' })
  })

  it('normalizes a key given without 0x or in upper case', () => {
    const settings = resolveSettings({ flags: { privateKey: 'AB'.repeat(32) }, env: {}, home: '/h' })
    assert.equal(settings.privateKey?.value, '0x' + 'ab'.repeat(32))
  })

  it('splits repeated and comma-separated --tracker values into one list', () => {
    const settings = resolveSettings({ flags: { tracker: ['ws://a:1,ws://b:2', 'ws://c:3'] }, env: {}, home: '/h' })
    assert.deepEqual(settings.trackers.value, ['ws://a:1', 'ws://b:2', 'ws://c:3'])
  })

  it('treats empty environment variables as unset', () => {
    const settings = resolveSettings({ flags: {}, env: { RUNNEL_RPC_URL: '', RUNNEL_TRACKERS: ' ' }, home: '/h' })
    assert.equal(settings.rpcUrl.source, 'default')
    assert.equal(settings.trackers.source, 'default')
  })

  it('rejects a malformed key, naming the setting and where it came from', () => {
    expectInvalid(
      () => resolveSettings({ flags: {}, env: { RUNNEL_PRIVATE_KEY: '0x1234' }, home: '/h' }),
      /^private key from RUNNEL_PRIVATE_KEY is invalid: expected 64 hex digits/,
    )
    expectInvalid(
      () => resolveSettings({ flags: { privateKey: '00'.repeat(32) }, env: {}, home: '/h' }),
      /^private key from --private-key is invalid: not a valid secp256k1 private key/,
    )
  })

  it('rejects an RPC URL that is not http(s), and trackers that are not ws(s)', () => {
    expectInvalid(
      () => resolveSettings({ flags: { rpc: 'ws://127.0.0.1:8545' }, env: {}, home: '/h' }),
      /^rpcUrl from --rpc: expected an http:\/\/ or https:\/\/ URL, got "ws:\/\/127.0.0.1:8545"/,
    )
    expectInvalid(
      () => resolveSettings({ flags: {}, env: { RUNNEL_TRACKERS: 'ws://ok:1,http://bad:2' }, home: '/h' }),
      /^trackers from RUNNEL_TRACKERS: expected ws:\/\/ or wss:\/\/ URLs, got "http:\/\/bad:2"/,
    )
    expectInvalid(
      () => resolveSettings({ flags: { tracker: [','] }, env: {}, home: '/h' }),
      /^trackers from --tracker: expected at least one URL/,
    )
  })

  it('runs in tracker mode by default, and in dht mode when only entry points are given (any layer)', () => {
    const plain = resolveSettings({ flags: {}, env: {}, home: '/h' })
    assert.deepEqual(plain.discovery, { value: 'tracker', source: 'default' })
    assert.deepEqual(plain.entryPoints, { value: LOCAL_DEFAULTS.entryPoints, source: 'default' })
    const fromEnv = resolveSettings({ flags: {}, env: { RUNNEL_ENTRY_POINTS: 'ws://a:1, ws://b:2' }, home: '/h' })
    assert.equal(fromEnv.discovery.value, 'dht')
    assert.deepEqual(fromEnv.entryPoints, { value: ['ws://a:1', 'ws://b:2'], source: 'RUNNEL_ENTRY_POINTS' })
    // Trackers set too: the mode isn't guessed away from tracker.
    const both = resolveSettings({
      flags: { entryPoint: ['ws://e:1'] },
      env: { RUNNEL_TRACKERS: 'ws://t:1' },
      home: '/h',
    })
    assert.equal(both.discovery.value, 'tracker')
  })

  it('takes --discovery over RUNNEL_DISCOVERY over the config file, with the default entry point in dht mode', () => {
    const layers = (flag?: string, env?: string): SettingsLayers => ({
      flags: flag === undefined ? {} : { discovery: flag },
      env: env === undefined ? {} : { RUNNEL_DISCOVERY: env },
      home: '/h',
      config: { path: '/h/config.json', content: { discovery: 'tracker' } },
    })
    assert.deepEqual(resolveSettings(layers('dht', 'tracker')).discovery, { value: 'dht', source: '--discovery' })
    assert.deepEqual(resolveSettings(layers(undefined, 'dht')).discovery, { value: 'dht', source: 'RUNNEL_DISCOVERY' })
    assert.deepEqual(resolveSettings(layers()).discovery, { value: 'tracker', source: 'config file /h/config.json' })
    const dht = resolveSettings({ flags: { discovery: 'dht' }, env: {}, home: '/h' })
    assert.deepEqual(dht.entryPoints, { value: LOCAL_DEFAULTS.entryPoints, source: 'default' })
  })

  it('rejects an unknown discovery mode and entry points that are not ws(s), naming the setting and source', () => {
    expectInvalid(
      () => resolveSettings({ flags: {}, env: { RUNNEL_DISCOVERY: 'kademlia' }, home: '/h' }),
      /^discovery from RUNNEL_DISCOVERY: expected "tracker" or "dht", got "kademlia"/,
    )
    expectInvalid(
      () => resolveSettings({ flags: { entryPoint: ['ws://ok:1,tcp://bad:2'] }, env: {}, home: '/h' }),
      /^entryPoints from --entry-point: expected ws:\/\/ or wss:\/\/ URLs, got "tcp:\/\/bad:2"/,
    )
    const config = (content: unknown): SettingsLayers => ({
      flags: {},
      env: {},
      home: '/h',
      config: { path: '/h/config.json', content },
    })
    expectInvalid(
      () => resolveSettings(config({ discovery: 3 })),
      /^discovery from config file \/h\/config.json: expected "tracker" or "dht"/,
    )
    expectInvalid(
      () => resolveSettings(config({ entryPoints: 'ws://a:1' })),
      /^entryPoints from config file \/h\/config.json: expected an array/,
    )
    expectInvalid(
      () => resolveSettings(config({ entryPoints: [] })),
      /^entryPoints from config file \/h\/config.json: expected at least one URL/,
    )
  })

  it('rejects unknown keys and bad values in the config file, even when a flag overrides them', () => {
    const config = (content: unknown): SettingsLayers => ({
      flags: { rpc: 'http://flag:1' },
      env: {},
      home: '/h',
      config: { path: '/h/config.json', content },
    })
    expectInvalid(
      () => resolveSettings(config({ rpc: 'http://x' })),
      /^config file \/h\/config.json: unknown key "rpc"/,
    )
    expectInvalid(() => resolveSettings(config([])), /^config file \/h\/config.json: expected a JSON object/)
    expectInvalid(
      () => resolveSettings(config({ rpcUrl: 'localhost:8545' })),
      /^rpcUrl from config file \/h\/config.json: expected an http/,
    )
    expectInvalid(
      () => resolveSettings(config({ trackers: 'ws://a:1' })),
      /^trackers from config file \/h\/config.json: expected an array/,
    )
    expectInvalid(
      () =>
        resolveSettings(
          config({ contracts: { streamRegistry: '0x12', storageNodeRegistry: CONTRACTS.storageNodeRegistry } }),
        ),
      /^contracts.streamRegistry from config file \/h\/config.json: expected an 0x-prefixed 20-byte hex address, got "0x12"/,
    )
    expectInvalid(() => resolveSettings(config({ contracts: { ...CONTRACTS, extra: 1 } })), /unknown key "extra"/)
  })

  it('takes the incentive contracts from the config file, else the dev chain’s, and names a bad one', () => {
    const config = (content: unknown): SettingsLayers => ({
      flags: {},
      env: {},
      home: '/h',
      config: { path: '/h/config.json', content },
    })
    const incentives = {
      token: '0x' + 'c1'.repeat(20),
      sponsorships: '0x' + 'c2'.repeat(20),
      operatorFactory: '0x' + 'c3'.repeat(20),
      voteKick: '0x' + 'c4'.repeat(20),
    }
    assert.deepEqual(resolveSettings(config({})).incentives, { value: LOCAL_DEFAULTS.incentives, source: 'default' })
    assert.deepEqual(resolveSettings(config({ incentives })).incentives, {
      value: incentives,
      source: 'config file /h/config.json',
    })
    expectInvalid(
      () => resolveSettings(config({ incentives: { ...incentives, voteKick: 'nope' } })),
      /^incentives.voteKick from config file \/h\/config.json: expected an 0x-prefixed 20-byte hex address, got "nope"/,
    )
    const partial = {
      token: incentives.token,
      sponsorships: incentives.sponsorships,
      operatorFactory: incentives.operatorFactory,
    }
    expectInvalid(
      () => resolveSettings(config({ incentives: partial })),
      /^incentives.voteKick from config file \/h\/config.json: expected an 0x-prefixed 20-byte hex address, got nothing/,
    )
    expectInvalid(() => resolveSettings(config({ incentives: { ...incentives, extra: 1 } })), /unknown key "extra"/)
    expectInvalid(
      () => resolveSettings(config({ incentives: 'x' })),
      /^incentives from config file .*: expected \{ "token"/,
    )
  })

  it('checks the identity file only when its key is used', () => {
    const broken = { path: '/h/identity.json', text: '{ not json' }
    assert.equal(
      resolveSettings({ flags: { privateKey: KEYS.flag }, env: {}, home: '/h', identity: broken }).privateKey?.source,
      '--private-key',
    )
    expectInvalid(
      () => resolveSettings({ flags: {}, env: {}, home: '/h', identity: broken }),
      /^identity file \/h\/identity.json is not valid JSON/,
    )
  })

  it("rejects an identity file whose address isn't its key's", () => {
    const identity = (content: unknown): SettingsLayers => ({
      flags: {},
      env: {},
      home: '/h',
      identity: { path: '/h/identity.json', text: JSON.stringify(content) },
    })
    assert.equal(
      resolveSettings(identity({ privateKey: KEYS.identity, address: IDENTITY_ADDRESS })).privateKey?.value,
      KEYS.identity,
    )
    expectInvalid(
      () => resolveSettings(identity({ privateKey: KEYS.identity, address: '0x' + '00'.repeat(20) })),
      /is not the private key's address \(0x7564105E977516C53bE337314c7E53838967bDaC\)/,
    )
  })
})

describe('loadSettings', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runnel-settings-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('reads $RUNNEL_HOME/config.json and $RUNNEL_HOME/identity.json', async () => {
    const home = join(dir, 'home-a')
    await import('node:fs/promises').then(({ mkdir }) => mkdir(home))
    await writeFile(join(home, 'config.json'), JSON.stringify({ rpcUrl: 'http://config:1' }))
    await writeFile(join(home, 'identity.json'), JSON.stringify({ privateKey: KEYS.identity }))
    const settings = await loadSettings({}, { RUNNEL_HOME: home })
    assert.equal(settings.home, home)
    assert.equal(settings.rpcUrl.value, 'http://config:1')
    assert.equal(settings.privateKey?.value, KEYS.identity)
  })

  it('defaults RUNNEL_HOME to ~/.runnel and tolerates neither file existing', async () => {
    const settings = await loadSettings({}, {}, join(dir, 'user'))
    assert.equal(settings.home, join(dir, 'user', '.runnel'))
    assert.equal(settings.privateKey, undefined)
  })

  it('prefers --config over RUNNEL_CONFIG over $RUNNEL_HOME/config.json', async () => {
    const first = join(dir, 'first.json')
    const second = join(dir, 'second.json')
    await writeFile(first, JSON.stringify({ rpcUrl: 'http://first:1' }))
    await writeFile(second, JSON.stringify({ rpcUrl: 'http://second:1' }))
    assert.equal((await loadSettings({ config: first }, { RUNNEL_CONFIG: second })).rpcUrl.value, 'http://first:1')
    assert.equal((await loadSettings({}, { RUNNEL_CONFIG: second, RUNNEL_HOME: dir })).rpcUrl.value, 'http://second:1')
  })

  it('fails when a config file named explicitly is missing or not JSON', async () => {
    await assert.rejects(loadSettings({ config: join(dir, 'missing.json') }, {}), (err: unknown) => {
      assert.ok(err instanceof CliError && err.code === 'INVALID_SETTINGS')
      assert.match(err.message, /^can't read config file .*missing.json/)
      return true
    })
    const broken = join(dir, 'broken.json')
    await writeFile(broken, '{ "rpcUrl": ')
    await assert.rejects(loadSettings({}, { RUNNEL_CONFIG: broken }), /config file .*broken.json is not valid JSON/)
  })
})
