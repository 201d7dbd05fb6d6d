import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
  version: string
  bin: Record<string, string>
  files: string[]
}

describe('the runnel bin', () => {
  // npm links bins before the install's build writes dist/ and skips targets that don't exist, so in a fresh clone a
  // bin pointing into dist/ leaves `npx runnel` unresolved until a second install.
  it('points at a file in git, not at build output, so npm can link it in a fresh clone', () => {
    for (const [name, target] of Object.entries(manifest.bin)) {
      const tracked = execFileSync('git', ['ls-files', '--error-unmatch', target], {
        cwd: packageDir,
        encoding: 'utf8',
      })
      assert.equal(tracked.trim(), target.replace(/^\.\//, ''), `${name} → ${target} is not tracked by git`)
      assert.ok(!target.replace(/^\.\//, '').startsWith('dist/'), `${name} → ${target} is build output`)
      assert.ok(
        manifest.files.some((entry) => target.replace(/^\.\//, '').startsWith(`${entry}/`)),
        `${target} is not in the package's files`,
      )
    }
  })

  it('runs the built CLI through the launcher', () => {
    const launcher = join(packageDir, manifest.bin.runnel!)
    const out = execFileSync(process.execPath, [launcher, '--version'], { encoding: 'utf8' })
    assert.equal(out.trim(), manifest.version)
  })
})
