import { randomBytes } from 'node:crypto'
import { chmod, link, mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import { addressFromPrivateKey, generatePrivateKey, toChecksumAddress } from '@runnel/protocol'
import { CliError } from './errors.js'
import { identityPath } from './settings.js'

/** What `identity.json` holds. */
export interface IdentityFile {
  readonly privateKey: `0x${string}`
  /** EIP-55 checksummed. */
  readonly address: string
}

/**
 * Generates a key and writes it to `<home>/identity.json`, readable by its
 * owner only (file 0600, and `home` 0700 when created here). The file appears
 * whole or not at all; without `force` an existing one is never replaced.
 *
 * @throws {@link CliError} `IDENTITY_EXISTS` when the file exists and `force` isn't set
 * @example
 * ```ts
 * const { identity, path } = await createIdentity(runnelHome(process.env), { force: false })
 * ```
 */
export async function createIdentity(
  home: string,
  options: { readonly force?: boolean } = {},
): Promise<{ identity: IdentityFile; path: string }> {
  const privateKey = generatePrivateKey() as `0x${string}`
  const identity: IdentityFile = { privateKey, address: toChecksumAddress(addressFromPrivateKey(privateKey)) }
  const created = await mkdir(home, { recursive: true, mode: 0o700 })
  // mkdir's mode is masked by the umask: set it outright on a directory made here (never on the user's own).
  if (created !== undefined) await chmod(home, 0o700)
  const path = identityPath(home)
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(temporary, JSON.stringify(identity, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  try {
    await chmod(temporary, 0o600)
    if (options.force === true) {
      await rename(temporary, path)
    } else {
      // link() refuses to replace an existing file, atomically: no window where a check and a write race.
      try {
        await link(temporary, path)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new CliError(
            'IDENTITY_EXISTS',
            `${path} exists already; pass --force to replace it (the old key is lost)`,
          )
        }
        throw err
      }
    }
  } finally {
    await unlink(temporary).catch(() => undefined)
  }
  return { identity, path }
}
