import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { addressFromPrivateKey } from '@runnel/protocol'
import { CliError, createIdentity, loadSettings } from '../../src/index.js'

describe('createIdentity', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runnel-identity-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('writes { privateKey, address } readable by its owner only, in a directory of mode 0700', async () => {
    const home = join(dir, 'new-home')
    const { identity, path } = await createIdentity(home)
    assert.equal(path, join(home, 'identity.json'))
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(home)).mode & 0o777, 0o700)
    const saved = JSON.parse(await readFile(path, 'utf8')) as { privateKey: string; address: string }
    assert.deepEqual(saved, identity)
    assert.match(saved.privateKey, /^0x[0-9a-f]{64}$/)
    assert.equal(saved.address.toLowerCase(), addressFromPrivateKey(saved.privateKey))
    assert.notEqual(saved.address, saved.address.toLowerCase(), 'the address is EIP-55 checksummed')
    assert.deepEqual(await readdir(home), ['identity.json'], 'no temporary file is left behind')
  })

  it('is the key every command then uses', async () => {
    const home = join(dir, 'used')
    const { identity } = await createIdentity(home)
    const settings = await loadSettings({}, { RUNNEL_HOME: home })
    assert.equal(settings.privateKey?.value, identity.privateKey)
  })

  it('refuses to overwrite an existing identity without force, and keeps the old key', async () => {
    const home = join(dir, 'twice')
    const { identity: first, path } = await createIdentity(home)
    await assert.rejects(createIdentity(home), (err: unknown) => {
      assert.ok(err instanceof CliError)
      assert.equal(err.code, 'IDENTITY_EXISTS')
      assert.match(err.message, /exists already; pass --force/)
      return true
    })
    assert.equal((JSON.parse(await readFile(path, 'utf8')) as { privateKey: string }).privateKey, first.privateKey)
    assert.deepEqual(await readdir(home), ['identity.json'])
  })

  it('replaces an existing identity with force, and the new file is 0600 even if the old one was not', async () => {
    const home = join(dir, 'forced')
    const { path } = await createIdentity(home)
    await chmod(path, 0o644)
    const { identity: second } = await createIdentity(home, { force: true })
    assert.equal((JSON.parse(await readFile(path, 'utf8')) as { privateKey: string }).privateKey, second.privateKey)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
  })

  it("leaves the mode of a home directory it didn't create alone", async () => {
    const home = join(dir, 'existing')
    await mkdir(home, { mode: 0o755 })
    await chmod(home, 0o755)
    await createIdentity(home)
    assert.equal((await stat(home)).mode & 0o777, 0o755)
  })
})
