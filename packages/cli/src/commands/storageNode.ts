import { Argument, InvalidArgumentError, type Command } from 'commander'
import { withClient } from '../client.js'
import { note, printJson, printLine, type CliContext } from '../context.js'
import {
  addJsonOption,
  addSettingsOptions,
  type JsonOption,
  checkStreamPath,
  parseAddressArgument,
  requireKey,
  settingsOf,
} from '../options.js'
import { parseHttpUrl } from '../settings.js'

/** A storage node assigned to a stream, as `list` prints it. */
interface StorageNodeEntry {
  readonly address: string
  /** Its history API, `null` when its metadata names none. */
  readonly url: string | null
  readonly metadata: Record<string, unknown> | null
}

/** `runnel storage-node …`: registering storage nodes and assigning streams to them, on chain. */
export function registerStorageNodeCommands(program: Command, context: CliContext): void {
  const storageNode = program
    .command('storage-node')
    .description('register storage nodes, assign streams to them, list who stores what')
    .addHelpText(
      'after',
      `
A storage node keeps the messages of the streams assigned to it and serves them to \`runnel resend\` at the URL it
registered. \`runnel node\` with the storage plugin registers itself; register, unregister, add-stream and
remove-stream are transactions from your key.`,
    )

  /** A storage-node subcommand with `--json` and the settings options. */
  const define = (
    name: string,
    description: string,
    examples: string[],
    configure: (command: Command) => Command,
  ): Command =>
    addSettingsOptions(addJsonOption(configure(storageNode.command(name).description(description)))).addHelpText(
      'after',
      `\nExample:\n${examples.map((example) => `  $ ${example}`).join('\n')}`,
    )

  define(
    'register',
    "register your key's address as a storage node whose history API is at <url> (again: change the URL)",
    ['runnel storage-node register https://storage.example.org:7172'],
    (command) =>
      command.addArgument(
        new Argument('<url>', 'the http:// or https:// base URL of its history API').argParser(parseStorageUrl),
      ),
  ).action(async (url: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'registering a storage node')
    const metadata = { http: url }
    const address = await withClient(settings, async (client) => {
      await client.registry.registerStorageNode(metadata)
      return client.address.toLowerCase()
    })
    if (options.json === true) printJson(context, { address, metadata, registered: true })
    else printLine(context, `registered storage node ${address} at ${url}`)
  })

  define(
    'unregister',
    "unregister your key's address as a storage node: its streams' history is no longer read from it",
    ['runnel storage-node unregister'],
    (command) => command,
  ).action(async (options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'unregistering a storage node')
    const address = await withClient(settings, async (client) => {
      await client.registry.unregisterStorageNode()
      return client.address.toLowerCase()
    })
    if (options.json === true) printJson(context, { address, unregistered: true })
    else printLine(context, `unregistered storage node ${address}`)
  })

  for (const verb of ['add', 'remove'] as const) {
    define(
      `${verb}-stream`,
      verb === 'add'
        ? 'assign a stream to a storage node, which then stores what is published to it (needs edit permission)'
        : 'stop a storage node storing a stream; its history there is no longer served (needs edit permission)',
      [`runnel storage-node ${verb}-stream /greenhouse/climate 0x90f7…b906`],
      (command) =>
        command
          .argument('<streamId>', 'a stream id, or a /path of your own')
          .argument('<nodeAddress>', "the storage node's address (see `runnel storage-node list`)"),
    ).action(async (streamId: string, nodeAddress: string, options: JsonOption, command: Command) => {
      const settings = await settingsOf(command, context)
      requireKey(settings, `${verb === 'add' ? 'assigning' : 'unassigning'} a storage node`)
      const node = parseAddressArgument(nodeAddress, '<nodeAddress>')
      const id = await withClient(settings, async (client) => {
        const { id } = await client.getStream(streamId)
        if (verb === 'add') await client.addStreamToStorageNode(id, node)
        else await client.removeStreamFromStorageNode(id, node)
        return id
      })
      const done = verb === 'add' ? 'added' : 'removed'
      if (options.json === true) printJson(context, { id, node, [done]: true })
      else printLine(context, `${done} ${id} ${verb === 'add' ? 'to' : 'from'} storage node ${node}`)
    })
  }

  define(
    'list',
    'list the storage nodes of a stream, with the URLs of their history APIs',
    ['runnel storage-node list 0x3c44…93bc/greenhouse/climate --json'],
    (command) => command.argument('<streamId>', 'a stream id, or a /path of your own'),
  ).action(async (streamId: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    checkStreamPath(settings, streamId)
    const { id, nodes } = await withClient(settings, async (client) => {
      const { id } = await client.getStream(streamId)
      const addresses = await client.getStorageNodes(id)
      const nodes = await Promise.all(
        addresses.map(async (address): Promise<StorageNodeEntry> => {
          // Assigned nodes are registered (the registry checks): only a race with unregister leaves none.
          const metadata = await client.registry.getStorageNode(address).catch(() => null)
          return { address: address.toLowerCase(), url: urlOf(metadata), metadata }
        }),
      )
      return { id, nodes }
    })
    if (options.json === true) {
      printJson(context, { id, storageNodes: nodes })
      return
    }
    if (nodes.length === 0) note(context, `no storage node stores ${id}`)
    for (const node of nodes) printLine(context, `${node.address}  ${node.url ?? '(no history URL)'}`)
  })

  define(
    'show',
    "show a storage node's metadata (its URL) and the streams it stores",
    ['runnel storage-node show', 'runnel storage-node show 0x90f7…b906 --json'],
    (command) => command.argument('[address]', 'a storage node (default: your own address)'),
  ).action(async (addressArgument: string | undefined, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    if (addressArgument === undefined) requireKey(settings, '`storage-node show` without an address')
    const given = addressArgument === undefined ? undefined : parseAddressArgument(addressArgument, '[address]')
    const shown = await withClient(settings, async (client) => {
      const address = given ?? (client.address.toLowerCase() as `0x${string}`)
      // Not registered: NODE_NOT_REGISTERED, exit 4.
      const metadata = await client.registry.getStorageNode(address)
      const streams = await client.registry.getStoredStreams(address)
      return { address, metadata, streams }
    })
    if (options.json === true) {
      printJson(context, shown)
      return
    }
    printLine(context, shown.address)
    const fields: [string, unknown][] = [...Object.entries(shown.metadata)]
    const width = Math.max('streams'.length, ...fields.map(([key]) => key.length))
    for (const [key, value] of fields) {
      printLine(context, `  ${key.padEnd(width)}  ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    }
    const [first, ...rest] = shown.streams
    printLine(context, `  ${'streams'.padEnd(width)}  ${first ?? '(none)'}`)
    for (const each of rest) printLine(context, `  ${''.padEnd(width)}  ${each}`)
  })
}

/**
 * Checks a storage node URL: http or https, no credentials (the metadata is
 * public), no query or fragment (paths are appended to it). Trailing slashes
 * are dropped.
 *
 * @throws {InvalidArgumentError} a usage error, exit 2
 */
export function parseStorageUrl(value: string): string {
  const url = parseHttpUrl(value)
  if (url === undefined) {
    throw new InvalidArgumentError('expected an http:// or https:// URL')
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidArgumentError('the URL must not hold credentials: storage node metadata is public, on chain')
  }
  if (url.search !== '' || url.hash !== '') {
    throw new InvalidArgumentError('the URL must not have a query or fragment: history paths are appended to it')
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '')
}

function urlOf(metadata: Record<string, unknown> | null): string | null {
  return typeof metadata?.http === 'string' ? metadata.http : null
}
