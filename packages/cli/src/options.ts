import { InvalidArgumentError, Option, type Command } from 'commander'
import { parseEthereumAddress, shortMessageOf } from '@runnel/protocol'
import type { CliContext } from './context.js'
import { CliError } from './errors.js'
import { loadSettings, type Settings, type SettingsFlags } from './settings.js'

const SETTINGS_GROUP = 'Settings (flag > environment > config file > identity file > defaults):'

/** Adds `--private-key`, `--rpc`, `--tracker`, `--discovery`, `--entry-point` and `--config` to a command. */
export function addSettingsOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--private-key <hex>',
        'the key to act as [env: RUNNEL_PRIVATE_KEY; default: identity file]',
      ).helpGroup(SETTINGS_GROUP),
    )
    .addOption(
      new Option(
        '--rpc <url>',
        'chain JSON-RPC endpoint [env: RUNNEL_RPC_URL; default: http://127.0.0.1:8545]',
      ).helpGroup(SETTINGS_GROUP),
    )
    .addOption(
      new Option(
        '--tracker <url...>',
        'tracker URL(s), repeatable or comma-separated [env: RUNNEL_TRACKERS; default: ws://127.0.0.1:30300]',
      ).helpGroup(SETTINGS_GROUP),
    )
    .addOption(
      new Option(
        '--discovery <mode>',
        'how nodes find each other: tracker or dht [env: RUNNEL_DISCOVERY; default: dht when only entry points are set, else tracker]',
      )
        .choices(['tracker', 'dht'])
        .helpGroup(SETTINGS_GROUP),
    )
    .addOption(
      new Option(
        '--entry-point <url...>',
        'DHT entry point URL(s) (dht mode), repeatable or comma-separated [env: RUNNEL_ENTRY_POINTS; default: ws://127.0.0.1:30301]',
      ).helpGroup(SETTINGS_GROUP),
    )
    .addOption(
      new Option('--config <file>', 'settings file [env: RUNNEL_CONFIG; default: $RUNNEL_HOME/config.json]').helpGroup(
        SETTINGS_GROUP,
      ),
    )
}

/** The option {@link addJsonOption} adds, as a command's options object has it. */
export interface JsonOption {
  readonly json?: boolean
}

/** Adds `--json`. */
export function addJsonOption(command: Command): Command {
  return command.option('--json', 'print JSON (for scripts) instead of text')
}

/** The settings a command runs with, from its flags, the environment and the files. */
export function settingsOf(command: Command, context: CliContext): Promise<Settings> {
  const options = command.opts<SettingsFlags>()
  return loadSettings(options, context.env, context.homedir)
}

/** The private key, or an error saying how to configure one. */
export function requireKey(settings: Settings, why: string): `0x${string}` {
  if (settings.privateKey === undefined) {
    throw new CliError(
      'NO_IDENTITY',
      `${why} needs a private key: pass --private-key, set RUNNEL_PRIVATE_KEY, add "privateKey" to the config file, or run \`runnel identity create\``,
    )
  }
  return settings.privateKey.value
}

/** A `/path` is relative to the key's address, so it needs one. */
export function checkStreamPath(settings: Settings, streamId: string): void {
  if (streamId.startsWith('/')) requireKey(settings, `the stream path ${streamId} (relative to your address)`)
}

/** A commander parser for a non-negative integer option (a bad value is a usage error). */
export function integerOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const parsed = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `${name} must be an integer ≥ ${min}`
          : `${name} must be an integer from ${min} to ${max}`,
      )
    }
    return parsed
  }
}

/**
 * Checks an address given on the command line and normalizes it to lowercase.
 *
 * @param what the argument or option, for the message (`<user>`, `--publisher`)
 * @throws {@link CliError} `INVALID_INPUT`
 */
export function parseAddressArgument(value: string, what: string): `0x${string}` {
  try {
    return parseEthereumAddress(value) as `0x${string}`
  } catch (err) {
    throw new CliError('INVALID_INPUT', `${what}: ${shortMessageOf(err)}`, {
      cause: err,
    })
  }
}
