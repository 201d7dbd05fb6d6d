import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { ContractAddresses, IncentiveAddresses, MarketAddresses } from '@runnel/chain'
import { LOCAL_DEFAULTS } from '@runnel/client'
import { networkSettingSchemas } from '@runnel/node/config'
import {
  addressFromPrivateKey,
  parseEthereumAddress,
  parsePrivateKey,
  shortMessageOf,
  toChecksumAddress,
} from '@runnel/protocol'
import { CliError } from './errors.js'

/**
 * The settings flags every network command takes (`--private-key`, `--rpc`, `--tracker`, `--discovery`,
 * `--entry-point`, `--config`).
 */
export interface SettingsFlags {
  readonly privateKey?: string
  readonly rpc?: string
  readonly tracker?: readonly string[]
  readonly discovery?: string
  readonly entryPoint?: readonly string[]
  readonly config?: string
}

/** The environment variables `runnel` reads. */
export interface SettingsEnv {
  readonly RUNNEL_PRIVATE_KEY?: string
  readonly RUNNEL_RPC_URL?: string
  readonly RUNNEL_TRACKERS?: string
  readonly RUNNEL_DISCOVERY?: string
  readonly RUNNEL_ENTRY_POINTS?: string
  readonly RUNNEL_CONFIG?: string
  readonly RUNNEL_HOME?: string
}

/** A setting's value and where it came from (`--rpc`, `RUNNEL_RPC_URL`, a file's path, `default`). */
export interface Sourced<T> {
  readonly value: T
  readonly source: string
}

/** The settings a command runs with. */
export interface Settings {
  /** `$RUNNEL_HOME`, default `~/.runnel`. */
  readonly home: string
  /** Undefined when no flag, variable, config or identity file gives one. */
  readonly privateKey: Sourced<`0x${string}`> | undefined
  readonly rpcUrl: Sourced<string>
  /**
   * How the network node finds peers. Without a setting: `dht` when entry points are set (any layer) and trackers
   * aren't, else `tracker`.
   */
  readonly discovery: Sourced<DiscoveryMode>
  /** Used in tracker mode. */
  readonly trackers: Sourced<readonly string[]>
  /** Used in dht mode. */
  readonly entryPoints: Sourced<readonly string[]>
  readonly contracts: Sourced<ContractAddresses>
  /** The token and incentive contracts (`runnel token|sponsorship|operator`). */
  readonly incentives: Sourced<IncentiveAddresses>
  /** The marketplace and the Data Union factory (`runnel product|du`). */
  readonly market: Sourced<MarketAddresses>
}

/** How a node finds the peers of a stream part: a tracker names them, or the DHT. */
export type DiscoveryMode = 'tracker' | 'dht'

/** The contents of `config.json`: every key optional. */
export interface SettingsFile {
  readonly privateKey?: string
  readonly rpcUrl?: string
  readonly trackers?: readonly string[]
  readonly discovery?: DiscoveryMode
  readonly entryPoints?: readonly string[]
  readonly contracts?: ContractAddresses
  readonly incentives?: IncentiveAddresses
  readonly market?: MarketAddresses
}

/** What {@link resolveSettings} decides from: the layers, highest precedence first. */
export interface SettingsLayers {
  readonly flags: SettingsFlags
  readonly env: SettingsEnv
  readonly home: string
  /** The config file's parsed JSON, if one was read. */
  readonly config?: { readonly path: string; readonly content: unknown }
  /** The identity file's text, if it exists. Only parsed when no higher layer gives a key. */
  readonly identity?: { readonly path: string; readonly text: string }
}

const CONFIG_KEYS = [
  'privateKey',
  'rpcUrl',
  'trackers',
  'discovery',
  'entryPoints',
  'contracts',
  'incentives',
  'market',
] as const
const INCENTIVE_KEYS = ['token', 'sponsorships', 'operatorFactory', 'voteKick'] as const
const MARKET_KEYS = ['marketplace', 'dataUnionFactory'] as const

/** `$RUNNEL_HOME`, or `~/.runnel`. */
export function runnelHome(env: SettingsEnv, home: string = homedir()): string {
  return nonEmpty(env.RUNNEL_HOME) ?? join(home, '.runnel')
}

/** Where `identity create` writes the key and every command looks for it. */
/** Group keys of encrypted streams, `$RUNNEL_HOME/keys.json` (mode 0600). */
export function keyStorePath(home: string): string {
  return join(home, 'keys.json')
}

export function identityPath(home: string): string {
  return join(home, 'identity.json')
}

/**
 * Reads the files the settings come from (the config file, the identity
 * file) and resolves the settings: flag > environment variable > config file
 * > identity file (for the key) > `LOCAL_DEFAULTS`.
 *
 * @throws {@link CliError} `INVALID_SETTINGS`, naming the setting and its source
 */
export async function loadSettings(flags: SettingsFlags, env: SettingsEnv, userHome?: string): Promise<Settings> {
  const home = runnelHome(env, userHome)
  const explicitConfig = nonEmpty(flags.config) ?? nonEmpty(env.RUNNEL_CONFIG)
  const configPath = explicitConfig ?? join(home, 'config.json')
  const configText = await readOptional(configPath, 'config file', explicitConfig !== undefined)
  let config: SettingsLayers['config']
  if (configText !== undefined) {
    try {
      config = { path: configPath, content: JSON.parse(configText) as unknown }
    } catch (err) {
      throw new CliError('INVALID_SETTINGS', `config file ${configPath} is not valid JSON: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }
  const path = identityPath(home)
  const identityText = await readOptional(path, 'identity file', false)
  return resolveSettings({
    flags,
    env,
    home,
    ...(config !== undefined && { config }),
    ...(identityText !== undefined && { identity: { path, text: identityText } }),
  })
}

/**
 * Decides every setting from its layers (no I/O). The config file is checked
 * whole, whatever overrides it; the identity file only when its key is used.
 *
 * @throws {@link CliError} `INVALID_SETTINGS`, naming the setting and its source
 */
export function resolveSettings(layers: SettingsLayers): Settings {
  const { flags, env } = layers
  const file = layers.config === undefined ? {} : checkConfigFile(layers.config.content, layers.config.path)
  const fileSource = `config file ${layers.config?.path ?? ''}`

  const privateKey = pick(
    flags.privateKey,
    '--private-key',
    env.RUNNEL_PRIVATE_KEY,
    'RUNNEL_PRIVATE_KEY',
    file.privateKey,
    fileSource,
  )
  const rpcUrl = pick(flags.rpc, '--rpc', env.RUNNEL_RPC_URL, 'RUNNEL_RPC_URL', file.rpcUrl, fileSource) ?? {
    value: LOCAL_DEFAULTS.rpcUrl,
    source: 'default',
  }
  const trackers = pickList(
    flags.tracker,
    '--tracker',
    env.RUNNEL_TRACKERS,
    'RUNNEL_TRACKERS',
    file.trackers,
    fileSource,
  )
  const entryPoints = pickList(
    flags.entryPoint,
    '--entry-point',
    env.RUNNEL_ENTRY_POINTS,
    'RUNNEL_ENTRY_POINTS',
    file.entryPoints,
    fileSource,
  )
  const chosenMode = pick(
    flags.discovery,
    '--discovery',
    env.RUNNEL_DISCOVERY,
    'RUNNEL_DISCOVERY',
    file.discovery,
    fileSource,
  )
  const discovery: Sourced<DiscoveryMode> =
    chosenMode !== undefined
      ? { value: checkDiscovery(chosenMode.value, chosenMode.source), source: chosenMode.source }
      : entryPoints !== undefined && trackers === undefined
        ? { value: 'dht', source: `${entryPoints.source} (entry points and no trackers)` }
        : { value: 'tracker', source: 'default' }
  const contracts: Sourced<ContractAddresses> =
    file.contracts !== undefined
      ? { value: file.contracts, source: fileSource }
      : { value: LOCAL_DEFAULTS.contracts, source: 'default' }
  const incentives: Sourced<IncentiveAddresses> =
    file.incentives !== undefined
      ? { value: file.incentives, source: fileSource }
      : { value: LOCAL_DEFAULTS.incentives, source: 'default' }
  const market: Sourced<MarketAddresses> =
    file.market !== undefined
      ? { value: file.market, source: fileSource }
      : { value: LOCAL_DEFAULTS.market, source: 'default' }

  return {
    home: layers.home,
    privateKey:
      privateKey !== undefined
        ? { value: parseKeySetting(privateKey.value, privateKey.source), source: privateKey.source }
        : layers.identity !== undefined
          ? readIdentity(layers.identity.text, layers.identity.path)
          : undefined,
    rpcUrl: { value: checkRpcUrl(rpcUrl.value, rpcUrl.source), source: rpcUrl.source },
    discovery,
    trackers: checkUrls(trackers ?? { value: LOCAL_DEFAULTS.trackers, source: 'default' }, 'trackers'),
    entryPoints: checkUrls(entryPoints ?? { value: LOCAL_DEFAULTS.entryPoints, source: 'default' }, 'entryPoints'),
    contracts,
    incentives,
    market,
  }
}

/**
 * Parses an identity file (`{ privateKey, address }`) and checks that the
 * address is the key's.
 *
 * @throws {@link CliError} `INVALID_SETTINGS`
 */
export function readIdentity(text: string, path: string): Sourced<`0x${string}`> {
  const source = `identity file ${path}`
  let content: unknown
  try {
    content = JSON.parse(text)
  } catch (err) {
    throw new CliError('INVALID_SETTINGS', `${source} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  if (!isRecord(content) || typeof content.privateKey !== 'string') {
    throw new CliError('INVALID_SETTINGS', `${source}: expected { "privateKey": "0x…", "address": "0x…" }`)
  }
  const key = parseKeySetting(content.privateKey, source)
  if (content.address !== undefined) {
    const actual = toChecksumAddress(addressFromPrivateKey(key))
    if (typeof content.address !== 'string' || content.address.toLowerCase() !== actual.toLowerCase()) {
      throw new CliError(
        'INVALID_SETTINGS',
        `${source}: address ${JSON.stringify(content.address)} is not the private key's address (${actual})`,
      )
    }
  }
  return { value: key, source }
}

function checkConfigFile(content: unknown, path: string): SettingsFile {
  const source = `config file ${path}`
  if (!isRecord(content)) throw new CliError('INVALID_SETTINGS', `${source}: expected a JSON object`)
  for (const key of Object.keys(content)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new CliError(
        'INVALID_SETTINGS',
        `${source}: unknown key "${key}" (expected ${CONFIG_KEYS.map((known) => `"${known}"`).join(', ')})`,
      )
    }
  }
  const { privateKey, rpcUrl, trackers, discovery, entryPoints, contracts, incentives, market } = content
  if (privateKey !== undefined && typeof privateKey !== 'string') {
    throw new CliError('INVALID_SETTINGS', `privateKey from ${source}: expected a hex string`)
  }
  if (rpcUrl !== undefined && typeof rpcUrl !== 'string') {
    throw new CliError('INVALID_SETTINGS', `rpcUrl from ${source}: expected a URL string`)
  }
  if (trackers !== undefined && !(Array.isArray(trackers) && trackers.every((url) => typeof url === 'string'))) {
    throw new CliError('INVALID_SETTINGS', `trackers from ${source}: expected an array of ws:// or wss:// URLs`)
  }
  if (discovery !== undefined && typeof discovery !== 'string') {
    throw new CliError('INVALID_SETTINGS', `discovery from ${source}: expected "tracker" or "dht"`)
  }
  if (
    entryPoints !== undefined &&
    !(Array.isArray(entryPoints) && entryPoints.every((url) => typeof url === 'string'))
  ) {
    throw new CliError('INVALID_SETTINGS', `entryPoints from ${source}: expected an array of ws:// or wss:// URLs`)
  }
  if (contracts !== undefined) checkContracts(contracts, source)
  if (incentives !== undefined) checkAddressGroup(incentives, 'incentives', INCENTIVE_KEYS, source)
  if (market !== undefined) checkAddressGroup(market, 'market', MARKET_KEYS, source)
  // Values are checked as settings once chosen, and right away here, so a broken file shows even when overridden.
  if (privateKey !== undefined) parseKeySetting(privateKey, source)
  if (rpcUrl !== undefined) checkRpcUrl(rpcUrl, source)
  if (trackers !== undefined) checkUrls({ value: trackers, source }, 'trackers')
  if (discovery !== undefined) checkDiscovery(discovery, source)
  if (entryPoints !== undefined) checkUrls({ value: entryPoints, source }, 'entryPoints')
  return content
}

function checkContracts(value: unknown, source: string): asserts value is ContractAddresses {
  const result = networkSettingSchemas.contracts.safeParse(value)
  if (result.success) return
  const [issue] = result.error.issues
  const key = issue?.path[0]
  if (issue?.code === 'unrecognized_keys') {
    throw new CliError(
      'INVALID_SETTINGS',
      `contracts from ${source}: unknown key "${issue.keys[0] ?? ''}" (expected "streamRegistry", "storageNodeRegistry")`,
    )
  }
  if (!isRecord(value) || key === undefined) {
    throw new CliError(
      'INVALID_SETTINGS',
      `contracts from ${source}: expected { "streamRegistry": "0x…", "storageNodeRegistry": "0x…" }`,
    )
  }
  throw new CliError(
    'INVALID_SETTINGS',
    `contracts.${String(key)} from ${source}: expected an 0x-prefixed 20-byte hex address, got ${JSON.stringify(value[String(key)]) ?? 'nothing'}`,
  )
}

/** Checks a config file's object of contract addresses (`incentives`, `market`): exactly `keys`, each an address. */
function checkAddressGroup(value: unknown, name: string, keys: readonly string[], source: string): void {
  const expected = `{ ${keys.map((key) => `"${key}": "0x…"`).join(', ')} }`
  if (!isRecord(value)) throw new CliError('INVALID_SETTINGS', `${name} from ${source}: expected ${expected}`)
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new CliError(
        'INVALID_SETTINGS',
        `${name} from ${source}: unknown key "${key}" (expected ${keys.map((known) => `"${known}"`).join(', ')})`,
      )
    }
  }
  for (const key of keys) {
    const address = value[key]
    try {
      if (typeof address !== 'string') throw new Error('not a string')
      parseEthereumAddress(address)
    } catch (err) {
      throw new CliError(
        'INVALID_SETTINGS',
        `${name}.${key} from ${source}: expected an 0x-prefixed 20-byte hex address, got ${JSON.stringify(address) ?? 'nothing'}`,
        { cause: err },
      )
    }
  }
}

/**
 * Checks a private key setting and normalizes it to `0x` and lowercase hex.
 *
 * @param source where it came from, for the error message (`--private-key`, `RUNNEL_PRIVATE_KEY`, a file)
 * @throws {@link CliError} `INVALID_SETTINGS`
 */
export function parseKeySetting(value: string, source: string): `0x${string}` {
  try {
    parsePrivateKey(value)
  } catch (err) {
    throw new CliError('INVALID_SETTINGS', `private key from ${source} is invalid: ${shortMessageOf(err)}`, {
      cause: err,
    })
  }
  const hex = value.startsWith('0x') ? value.slice(2) : value
  return `0x${hex.toLowerCase()}`
}

/** The URL if `value` is an http:// or https:// URL, else undefined. */
export function parseHttpUrl(value: string): URL | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined
}

function checkRpcUrl(value: string, source: string): string {
  if (!networkSettingSchemas.rpcUrl.safeParse(value).success) {
    throw new CliError(
      'INVALID_SETTINGS',
      `rpcUrl from ${source}: expected an http:// or https:// URL, got ${JSON.stringify(value)}`,
    )
  }
  return value
}

/** Checks a list of ws:// or wss:// URLs (`trackers`, `entryPoints`); the error names the setting and its source. */
function checkUrls(list: Sourced<readonly string[]>, setting: string): Sourced<readonly string[]> {
  const { value, source } = list
  if (value.length === 0) throw new CliError('INVALID_SETTINGS', `${setting} from ${source}: expected at least one URL`)
  for (const url of value) {
    if (!networkSettingSchemas.trackers.element.safeParse(url).success) {
      throw new CliError(
        'INVALID_SETTINGS',
        `${setting} from ${source}: expected ws:// or wss:// URLs, got ${JSON.stringify(url)}`,
      )
    }
  }
  return list
}

function checkDiscovery(value: string, source: string): DiscoveryMode {
  if (value === 'tracker' || value === 'dht') return value
  throw new CliError(
    'INVALID_SETTINGS',
    `discovery from ${source}: expected "tracker" or "dht", got ${JSON.stringify(value)}`,
  )
}

/** The first layer that gives a value (empty strings count as absent). */
function pick(...layers: [unknown, string, unknown, string, unknown, string]): Sourced<string> | undefined {
  for (let i = 0; i < layers.length; i += 2) {
    const value = layers[i]
    if (typeof value === 'string' && value.trim() !== '')
      return { value: value.trim(), source: layers[i + 1] as string }
  }
  return undefined
}

/**
 * The first layer that gives a list: a repeatable flag (`--tracker a,b --tracker c`), a comma-separated variable
 * (`RUNNEL_TRACKERS=a,b`), the config file's array.
 */
function pickList(
  flag: readonly string[] | undefined,
  flagName: string,
  envValue: string | undefined,
  envName: string,
  fileValue: readonly string[] | undefined,
  fileSource: string,
): Sourced<readonly string[]> | undefined {
  if (flag !== undefined && flag.length > 0) return { value: splitList(flag), source: flagName }
  const fromEnv = nonEmpty(envValue)
  if (fromEnv !== undefined) return { value: splitList([fromEnv]), source: envName }
  return fileValue !== undefined ? { value: fileValue, source: fileSource } : undefined
}

/** `--tracker a,b --tracker c` and `RUNNEL_TRACKERS=a,b`: comma-separated lists, concatenated. */
function splitList(values: readonly string[]): string[] {
  return values.flatMap((value) => value.split(',').map((part) => part.trim())).filter((part) => part !== '')
}

async function readOptional(path: string, what: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new CliError('INVALID_SETTINGS', `can't read ${what} ${path}: ${(err as Error).message}`, { cause: err })
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
