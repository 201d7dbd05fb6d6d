import type { Command } from 'commander'

/** `runnel dev`: registered by the dev-network work (in progress). */
export function registerDevCommand(program: Command): void {
  program.command('dev').description('start a complete local network (in progress)')
}
