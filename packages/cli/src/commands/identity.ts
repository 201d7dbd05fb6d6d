import type { Command } from 'commander'
import { addressFromPrivateKey, toChecksumAddress } from '@runnel/protocol'
import { note, printJson, printLine, type CliContext } from '../context.js'
import { createIdentity } from '../identity.js'
import { addJsonOption, addSettingsOptions, requireKey, settingsOf } from '../options.js'
import { runnelHome } from '../settings.js'

/** `runnel identity create` and `runnel identity show`. */
export function registerIdentityCommands(program: Command, context: CliContext): void {
  const identity = program
    .command('identity')
    .description('create or show the key runnel acts as')
    .addHelpText(
      'after',
      `
The identity file is $RUNNEL_HOME/identity.json (default ~/.runnel/identity.json). Every command uses its key
unless --private-key, RUNNEL_PRIVATE_KEY or the config file's "privateKey" gives another.`,
    )

  addJsonOption(
    identity
      .command('create')
      .description('generate a new key and save it in $RUNNEL_HOME/identity.json (mode 0600)')
      .option('--force', 'replace an existing identity file (its key is lost)'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ runnel identity create\n  created identity 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC in /home/me/.runnel/identity.json',
    )
    .action(async (options: { force?: boolean; json?: boolean }) => {
      const home = runnelHome(context.env, context.homedir)
      const { identity: created, path } = await createIdentity(home, { force: options.force === true })
      if (options.json === true) printJson(context, { address: created.address, path })
      else printLine(context, `created identity ${created.address} in ${path}`)
    })

  addSettingsOptions(
    addJsonOption(
      identity
        .command('show')
        .description('print the address runnel acts as (and where its key comes from, on stderr)')
        .option('--private-key-too', 'also print the private key'),
    ),
  )
    .addHelpText('after', '\nExample:\n  $ runnel identity show --json')
    .action(async (options: { privateKeyToo?: boolean; json?: boolean }, command: Command) => {
      const settings = await settingsOf(command, context)
      const key = requireKey(settings, '`identity show`')
      const address = toChecksumAddress(addressFromPrivateKey(key))
      const source = settings.privateKey?.source ?? ''
      if (options.json === true) {
        printJson(context, { address, source, ...(options.privateKeyToo === true && { privateKey: key }) })
        return
      }
      printLine(context, address)
      if (options.privateKeyToo === true) printLine(context, key)
      note(context, `(from ${source})`)
    })
}
