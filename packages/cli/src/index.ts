/**
 * `@runnel/cli`: the `runnel` command. Runs from `node_modules/.bin/runnel`
 * (`npx runnel …`); the program is also importable, to embed or to test.
 *
 * @example
 * ```ts
 * import { runCli } from '@runnel/cli'
 * process.exitCode = await runCli(['node', 'runnel', 'stream', 'show', streamId, '--json'])
 * ```
 * @packageDocumentation
 */
export { createProgram, runCli } from './program.js'
export { processContext, type CliContext } from './context.js'
export { CliError, type CliErrorCode } from './errors.js'
export { EXIT, exitCodeFor, type ExitCode } from './exitCodes.js'
export { createIdentity, type IdentityFile } from './identity.js'
export {
  identityPath,
  loadSettings,
  parseKeySetting,
  readIdentity,
  resolveSettings,
  runnelHome,
  type Settings,
  type SettingsEnv,
  type SettingsFile,
  type SettingsFlags,
  type SettingsLayers,
  type Sourced,
} from './settings.js'
export { formatReceivedMessage, parseMessageLine, type MessageLine, type MessageLineOptions } from './messages.js'
