import { Argument, Option, type Command } from 'commander'
import { PERMISSION_NAMES, PUBLIC, holds, type PermissionName, type Permissions } from '@runnel/chain'
import type { RunnelClient, Stream } from '@runnel/client'
import { withClient } from '../client.js'
import { printJson, printLine, type CliContext } from '../context.js'
import {
  addJsonOption,
  addSettingsOptions,
  type JsonOption,
  checkStreamPath,
  integerOption,
  parseAddressArgument,
  requireKey,
  settingsOf,
} from '../options.js'

/** `runnel stream …`: streams and their permissions, on chain. */
export function registerStreamCommands(program: Command, context: CliContext): void {
  const stream = program
    .command('stream')
    .description('create, show, search and delete streams; grant and revoke permissions')
    .addHelpText(
      'after',
      `
A stream id is <owner address>/<path>; /<path> alone means a stream of your own key.
Writes (create, delete, grant, revoke) are transactions from your key.`,
    )

  /** A stream subcommand with `--json` and the settings options, whose action gets a client. */
  const define = (
    name: string,
    description: string,
    example: string,
    configure: (command: Command) => Command = (command) => command,
  ): Command =>
    addSettingsOptions(addJsonOption(configure(stream.command(name).description(description)))).addHelpText(
      'after',
      `\nExample:\n  $ ${example}`,
    )

  define(
    'create',
    'create a stream under your address',
    'runnel stream create /greenhouse/climate --partitions 2 --description "Greenhouse climate"',
    (command) =>
      command
        .argument('<streamId>', 'a /path of your own, or <your address>/<path>')
        .option('--partitions <n>', 'number of partitions, 1–100 (default 1)', integerOption('--partitions', 1, 100))
        .option('--description <text>', 'a description, stored in the metadata')
        .option('--storage-days <n>', 'days storage nodes keep its history', integerOption('--storage-days')),
  ).action(
    async (
      streamId: string,
      options: JsonOption & { partitions?: number; description?: string; storageDays?: number },
      command: Command,
    ) => {
      const settings = await settingsOf(command, context)
      requireKey(settings, 'creating a stream')
      const metadata = {
        ...(options.partitions !== undefined && { partitions: options.partitions }),
        ...(options.description !== undefined && { description: options.description }),
        ...(options.storageDays !== undefined && { storageDays: options.storageDays }),
      }
      const created = await withClient(settings, (client) => client.createStream(streamId, metadata))
      printStream(context, created, options)
    },
  )

  define(
    'show',
    'show a stream and its metadata',
    'runnel stream show 0x3c44…93bc/greenhouse/climate --json',
    (command) => command.argument('<streamId>', 'a stream id, or a /path of your own'),
  ).action(async (streamId: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    checkStreamPath(settings, streamId)
    const found = await withClient(settings, (client) => client.getStream(streamId))
    printStream(context, found, options)
  })

  define(
    'search',
    'list streams whose id contains a term',
    'runnel stream search greenhouse --user 0x3c44…93bc',
    (command) =>
      command
        .argument('[term]', 'only ids containing this text (case-sensitive)')
        .option('--user <address>', 'only streams where this address holds --permission (default: any permission)')
        .addOption(
          new Option(
            '--permission <name>',
            'only streams where --user (or, without --user, everyone) holds this permission',
          ).choices(PERMISSION_NAMES),
        ),
  ).action(
    async (
      term: string | undefined,
      options: JsonOption & { user?: string; permission?: PermissionName },
      command: Command,
    ) => {
      const settings = await settingsOf(command, context)
      const user = options.user === undefined ? undefined : parseAddressArgument(options.user, '--user')
      const found = await withClient(settings, (client) => search(client, term, user, options.permission))
      if (options.json === true) {
        printJson(context, found.map(toStreamJson))
        return
      }
      for (const each of found) printLine(context, each.id)
    },
  )

  define('delete', 'delete a stream and all its permissions', 'runnel stream delete /greenhouse/climate', (command) =>
    command.argument('<streamId>', 'a stream id, or a /path of your own'),
  ).action(async (streamId: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'deleting a stream')
    const id = await withClient(settings, async (client) => {
      const { id } = await client.getStream(streamId)
      await client.deleteStream(id)
      return id
    })
    if (options.json === true) printJson(context, { id, deleted: true })
    else printLine(context, `deleted ${id}`)
  })

  for (const verb of ['grant', 'revoke'] as const) {
    define(
      verb,
      verb === 'grant'
        ? 'grant permissions on a stream to an address, or publish/subscribe to everyone ("public")'
        : 'revoke permissions on a stream from an address or from everyone ("public")',
      `runnel stream ${verb} /greenhouse/climate public publish subscribe`,
      (command) =>
        command
          .argument('<streamId>', 'a stream id, or a /path of your own')
          .argument('<user>', 'an address, or "public" for everyone')
          .addArgument(new Argument('<permission...>', 'permissions').choices(PERMISSION_NAMES)),
    ).action(
      async (streamId: string, user: string, permissions: PermissionName[], options: JsonOption, command: Command) => {
        const settings = await settingsOf(command, context)
        requireKey(settings, `${verb === 'grant' ? 'granting' : 'revoking'} permissions`)
        const target = user === 'public' ? 'public' : parseAddressArgument(user, '<user>')
        const id = await withClient(settings, async (client) => {
          const { id } = await client.getStream(streamId)
          if (verb === 'grant') await client.grantPermissions(id, target, ...permissions)
          else await client.revokePermissions(id, target, ...permissions)
          return id
        })
        const done = verb === 'grant' ? 'granted' : 'revoked'
        if (options.json === true) printJson(context, { id, user: target, permissions, [done]: true })
        else
          printLine(context, `${done} ${permissions.join(', ')} on ${id} ${verb === 'grant' ? 'to' : 'from'} ${target}`)
      },
    )
  }

  define(
    'permissions',
    'list who holds which permissions on a stream',
    'runnel stream permissions /greenhouse/climate',
    (command) => command.argument('<streamId>', 'a stream id, or a /path of your own'),
  ).action(async (streamId: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    checkStreamPath(settings, streamId)
    const { id, entries } = await withClient(settings, async (client) => {
      const { id } = await client.getStream(streamId)
      return { id, entries: describePermissions(await client.getPermissions(id)) }
    })
    if (options.json === true) {
      printJson(context, { id, permissions: entries })
      return
    }
    const width = Math.max(0, ...entries.map((entry) => entry.user.length))
    for (const entry of entries) {
      const expiring = [
        entry.publishExpiresAt !== undefined ? `publish until ${entry.publishExpiresAt}` : undefined,
        entry.subscribeExpiresAt !== undefined ? `subscribe until ${entry.subscribeExpiresAt}` : undefined,
      ].filter((part) => part !== undefined)
      const held = entry.permissions.length === 0 ? '(none now)' : entry.permissions.join(', ')
      printLine(
        context,
        `${entry.user.padEnd(width)}  ${held}${expiring.length > 0 ? ` (${expiring.join('; ')})` : ''}`,
      )
    }
  })
}

/** One user's permissions as printed: the names held now, and the end of any expiring grant. */
export interface PermissionEntry {
  /** An address (lowercase), or `public`. */
  readonly user: string
  readonly permissions: PermissionName[]
  /** ISO time; absent when the grant doesn't expire (or there is none). */
  readonly publishExpiresAt?: string
  readonly subscribeExpiresAt?: string
}

const FOREVER_SECONDS = 2n ** 64n - 1n

/** Turns the registry's permission map into printable entries, public first. */
export function describePermissions(
  map: ReadonlyMap<string, Permissions>,
  nowSeconds = BigInt(Math.floor(Date.now() / 1000)),
): PermissionEntry[] {
  const entries: PermissionEntry[] = []
  for (const [address, granted] of map) {
    const expiresAt = (seconds: bigint): string | undefined =>
      seconds > nowSeconds && seconds < FOREVER_SECONDS ? new Date(Number(seconds) * 1000).toISOString() : undefined
    const publishExpiresAt = expiresAt(granted.publishExpiration)
    const subscribeExpiresAt = expiresAt(granted.subscribeExpiration)
    entries.push({
      user: address.toLowerCase() === PUBLIC ? 'public' : address.toLowerCase(),
      permissions: PERMISSION_NAMES.filter((name) => holds(granted, name, nowSeconds)),
      ...(publishExpiresAt !== undefined && { publishExpiresAt }),
      ...(subscribeExpiresAt !== undefined && { subscribeExpiresAt }),
    })
  }
  return entries.sort((a, b) => Number(b.user === 'public') - Number(a.user === 'public'))
}

/** Streams matching a term and, optionally, where `user` holds `permission` (any permission when not given). */
async function search(
  client: RunnelClient,
  term: string | undefined,
  user: `0x${string}` | undefined,
  permission: PermissionName | undefined,
): Promise<Stream[]> {
  const base = term === undefined ? {} : { term }
  if (user === undefined || permission !== undefined) {
    return client.searchStreams({
      ...base,
      ...(user !== undefined && { user }),
      ...(permission !== undefined && { permission }),
    })
  }
  // Any permission: the union of one search per permission, in the registry's order of creation.
  const all = await client.searchStreams(base)
  const matching = new Set<string>()
  for (const name of PERMISSION_NAMES) {
    for (const found of await client.searchStreams({ ...base, user, permission: name })) matching.add(found.id)
  }
  return all.filter((each) => matching.has(each.id))
}

function printStream(context: CliContext, stream: Stream, options: JsonOption): void {
  if (options.json === true) {
    printJson(context, toStreamJson(stream))
    return
  }
  printLine(context, stream.id)
  const fields: [string, unknown][] = [['partitions', stream.partitions], ...Object.entries(stream.metadata)]
  const shown = fields.filter(([key], index) => index === 0 || key !== 'partitions')
  const width = Math.max(...shown.map(([key]) => key.length))
  for (const [key, value] of shown) {
    printLine(context, `  ${key.padEnd(width)}  ${typeof value === 'string' ? value : JSON.stringify(value)}`)
  }
}

function toStreamJson(stream: Stream): { id: string; partitions: number; metadata: Stream['metadata'] } {
  return { id: stream.id, partitions: stream.partitions, metadata: stream.metadata }
}
