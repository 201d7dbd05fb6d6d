import type { Command } from 'commander'
import { formatRnl, parseRnl, showRnl } from '../amounts.js'
import { withClient } from '../client.js'
import { printJson, printLine, type CliContext } from '../context.js'
import { defineSubcommand } from '../incentives.js'
import { parseAddressArgument, requireKey, settingsOf, type JsonOption } from '../options.js'

/** `runnel token …`: RNL balances and transfers. */
export function registerTokenCommands(program: Command, context: CliContext): void {
  const token = program
    .command('token')
    .description('RNL balances and transfers')
    .addHelpText(
      'after',
      `
Amounts are RNL in decimals (100, 12.5; at most 18 decimals). The token is the settings' "incentives.token"
contract (default: the dev chain's, where every dev account holds 1,000,000 RNL).`,
    )

  defineSubcommand(
    token,
    'balance',
    'show the RNL balance of an address (default: your own)',
    ['runnel token balance', 'runnel token balance 0x3c44…93bc --json'],
    (command) => command.argument('[address]', 'any address (default: your key’s)'),
  ).action(async (addressArgument: string | undefined, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    if (addressArgument === undefined) requireKey(settings, '`token balance` without an address')
    const given = addressArgument === undefined ? undefined : parseAddressArgument(addressArgument, '[address]')
    const { address, balance } = await withClient(settings, async (client) => {
      const address = given ?? (client.address.toLowerCase() as `0x${string}`)
      return { address, balance: await client.incentives.tokenBalance(address) }
    })
    if (options.json === true) printJson(context, { address, balance: formatRnl(balance) })
    else printLine(context, showRnl(balance))
  })

  defineSubcommand(
    token,
    'transfer',
    'send RNL from your key to an address',
    ['runnel token transfer 0x3c44…93bc 250'],
    (command) => command.argument('<to>', 'the receiving address').argument('<amount>', 'RNL to send'),
  ).action(async (toArgument: string, amountArgument: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'sending tokens')
    const to = parseAddressArgument(toArgument, '<to>')
    const amount = parseRnl(amountArgument, '<amount>')
    const balance = await withClient(settings, async (client) => {
      await client.incentives.transferTokens(to, amount)
      return client.incentives.tokenBalance()
    })
    if (options.json === true) printJson(context, { to, amount: formatRnl(amount), balance: formatRnl(balance) })
    else printLine(context, `sent ${showRnl(amount)} to ${to}; ${showRnl(balance)} left`)
  })
}
